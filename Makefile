# The two commands of the README: `make run` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what the service needs (requirements.txt); `make test` and the lint
# targets add the test and lint tools (requirements-dev.txt, which includes requirements.txt).
STAMP := $(VENV)/.runtime-stamp
DEV_STAMP := $(VENV)/.dev-stamp

.PHONY: run test lint format migrate seed worker clean messages bank

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(DEV_STAMP)

WEB_PORT ?= 8000
BANK_PORT ?= 8100

## Run the service with demo data: web on http://127.0.0.1:8000, a Celery worker and beat, and the simulated
## bank as its own process on http://127.0.0.1:8100, reached over HTTP and calling our /webhooks/bank/
## (Ctrl-C stops all). PAYMENT_GATEWAY=simulated make run keeps the in-process bank instead.
run: export WEB_PORT := $(WEB_PORT)
run: export BANK_PORT := $(BANK_PORT)
run: export PAYMENT_GATEWAY ?= http
run: export GATEWAY_HTTP_URL ?= http://127.0.0.1:$(BANK_PORT)
run: export BANK_WEBHOOK_URL ?= http://127.0.0.1:$(WEB_PORT)/webhooks/bank/
## The demo's SMS (codes included) are written to var/sms/<number>.txt: the console log shows codes as ******.
run: export SMS_SENDER ?= file
run: $(STAMP)
	$(BIN)/python -m simulators.bank_service --check-port
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/honcho --procfile Procfile run $(BIN)/python manage.py seed_demo
	@echo
	@echo "  Open http://127.0.0.1:$(WEB_PORT)/ (customers) and http://127.0.0.1:$(WEB_PORT)/admin/ (staff)."
	@echo "  SMS codes: $(if $(filter file,$(SMS_SENDER)),var/sms/<phone number>.txt (e.g. var/sms/8613800000001.txt),the log below (SMS_SENDER=$(SMS_SENDER)))."
	@echo "  Bank service: http://127.0.0.1:$(BANK_PORT)/. Ctrl-C stops everything."
	@echo
	@# Ctrl-C goes to honcho alone (simulators/foreground.py), which stops every process; exit status 0.
	$(BIN)/python -m simulators.foreground $(BIN)/honcho --procfile Procfile start

## The simulated bank as a separate process on http://127.0.0.1:8100 (use it with PAYMENT_GATEWAY=http).
bank: $(STAMP)
	$(BIN)/python -m simulators.bank_service

## Lint, check the import layers and the types, check migrations and run the whole test suite.
test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis .mypy_cache .import_linter_cache

## Refresh the Chinese translation catalogue from the code, then compile it (needs GNU gettext).
messages: $(DEV_STAMP)
	$(BIN)/python manage.py makemessages -l zh_Hans --no-location --ignore=.venv --ignore=var --ignore=tests --ignore=bench
	$(BIN)/python manage.py compilemessages -l zh_Hans
