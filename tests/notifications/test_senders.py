"""SMS senders: console, in-memory, the simulated gateway, the signed HTTP provider and get_sender()."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from notifications.sealing import SecretText
from notifications.senders import (
    ConsoleSender,
    HttpSmsSender,
    InMemorySender,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SmsSender,
    get_sender,
)
from simulators.models import SimulatedSms
from simulators.sms import SimulatedSmsGateway

PHONE = "+8613812345678"
NATIONAL = "13812345678"  # a substring of every unmasked form of PHONE
MASKED = "138****5678"
SECRET = "test-signing-secret"


def assert_no_full_phone(text: str) -> None:
    assert NATIONAL not in text, text


@pytest.fixture(autouse=True)
def clean_memory_sender() -> Iterator[None]:
    InMemorySender.reset()
    yield
    InMemorySender.reset()


# --- console ------------------------------------------------------------------------------------


def test_console_logs_the_masked_phone_and_the_text(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="notifications.sms")
    provider_id = ConsoleSender().send(PHONE, "您的验证码 123456", reference="ref-1")
    records = [r for r in caplog.records if r.name == "notifications.sms"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, f"SMS to {MASKED}: 您的验证码 123456")
    ]
    assert_no_full_phone(caplog.text)
    assert re.fullmatch(r"console-[0-9a-f]{32}", provider_id)
    assert capsys.readouterr().out == ""


# --- in memory ----------------------------------------------------------------------------------


def test_memory_records_what_was_sent() -> None:
    provider_id = InMemorySender().send(PHONE, "hello", reference="ref-1")
    assert InMemorySender.outbox == [(PHONE, "hello", "ref-1", provider_id)]
    assert provider_id


def test_memory_dedupes_by_reference_across_instances() -> None:
    first = InMemorySender().send(PHONE, "hello", reference="ref-1")
    again = InMemorySender().send(PHONE, "hello", reference="ref-1")
    other = InMemorySender().send(PHONE, "hello", reference="ref-2")
    assert again == first
    assert other != first
    assert [sent.reference for sent in InMemorySender.outbox] == ["ref-1", "ref-2"]


def test_memory_without_reference_sends_every_time() -> None:
    sender = InMemorySender()
    assert sender.send(PHONE, "a") != sender.send(PHONE, "a")
    assert len(InMemorySender.outbox) == 2


def test_memory_fail_next_retryable_then_succeeds() -> None:
    InMemorySender.fail_next(2, retryable=True)
    sender = InMemorySender()
    for _ in range(2):
        with pytest.raises(RetryableSendError) as excinfo:
            sender.send(PHONE, "hello", reference="ref-1")
        assert_no_full_phone(str(excinfo.value))
    assert InMemorySender.outbox == []
    sender.send(PHONE, "hello", reference="ref-1")
    assert len(InMemorySender.outbox) == 1


def test_memory_fail_next_permanent() -> None:
    InMemorySender.fail_next(1, retryable=False)
    with pytest.raises(PermanentSendError):
        InMemorySender().send(PHONE, "hello", reference="ref-1")
    InMemorySender().send(PHONE, "hello", reference="ref-1")
    assert len(InMemorySender.outbox) == 1


def test_memory_failures_queue_in_order_and_reset_clears_them() -> None:
    InMemorySender.fail_next(1, retryable=False)
    InMemorySender.fail_next(1, retryable=True)
    with pytest.raises(PermanentSendError):
        InMemorySender().send(PHONE, "a")
    with pytest.raises(RetryableSendError):
        InMemorySender().send(PHONE, "a")
    InMemorySender.fail_next(5)
    InMemorySender.reset()
    InMemorySender().send(PHONE, "a")
    assert len(InMemorySender.outbox) == 1


def test_memory_is_thread_safe_and_dedupes_concurrent_sends() -> None:
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def worker() -> None:
        barrier.wait()
        ids.append(InMemorySender().send(PHONE, "hello", reference="same"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1
    assert len(ids) == 8
    assert len(InMemorySender.outbox) == 1


# --- simulated gateway --------------------------------------------------------------------------


@pytest.mark.django_db
def test_simulated_writes_a_row() -> None:
    provider_id = SimulatedSmsGateway(seed=1).send(PHONE, "您好", reference="ref-1")
    row = SimulatedSms.objects.get()
    assert (row.provider_message_id, row.phone, row.text, row.client_reference) == (
        provider_id,
        PHONE,
        "您好",
        "ref-1",
    )
    assert provider_id.startswith("sim-")


@pytest.mark.django_db
def test_simulated_dedupes_by_reference() -> None:
    gateway = SimulatedSmsGateway(seed=1)
    first = gateway.send(PHONE, "hello", reference="ref-1")
    # Another instance (another worker process) sees the same provider memory.
    assert SimulatedSmsGateway(seed=2).send(PHONE, "hello", reference="ref-1") == first
    assert gateway.send(PHONE, "hello", reference="ref-2") != first
    gateway.send(PHONE, "no reference")
    gateway.send(PHONE, "no reference")
    assert SimulatedSms.objects.filter(client_reference="ref-1").count() == 1
    assert SimulatedSms.objects.count() == 4


@pytest.mark.django_db
def test_simulated_lost_race_returns_the_first_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The other send committed between our lookup and our insert: the unique constraint decides."""
    gateway = SimulatedSmsGateway(seed=1)
    first = gateway.send(PHONE, "hello", reference="ref-1")
    real_find = gateway._find_accepted
    calls: list[str] = []

    def find_too_early(reference: str) -> str | None:
        calls.append(reference)
        return None if len(calls) == 1 else real_find(reference)

    monkeypatch.setattr(gateway, "_find_accepted", find_too_early)
    assert gateway.send(PHONE, "hello", reference="ref-1") == first
    assert len(calls) == 2
    # The test's own transaction is still usable: the failed insert ran in a savepoint.
    assert SimulatedSms.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simulated_two_threads_same_reference_make_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two senders of one reference at once, each on its own connection: one row, one id for both.

    Each thread waits after its first lookup until the other has looked too, so both have seen "not
    sent yet" before either inserts: the unique constraint, not luck, has to settle it.

    PostgreSQL only: the SQLite test database is in-memory with a shared cache, where a reader meets a
    concurrent writer's table lock as "database table is locked" (SQLITE_LOCKED, which the busy timeout
    does not cover); the file database the service runs on does not have that mode. The lost-race test
    above covers the same IntegrityError path deterministically on both databases.
    """
    threads_n = 2
    looked = threading.Barrier(threads_n)
    local = threading.local()
    real_find = SimulatedSmsGateway._find_accepted

    def find_then_wait(self: SimulatedSmsGateway, reference: str) -> str | None:
        found = real_find(self, reference)
        if not getattr(local, "waited", False):
            local.waited = True
            looked.wait(timeout=10)
        return found

    monkeypatch.setattr(SimulatedSmsGateway, "_find_accepted", find_then_wait)
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            ids.append(SimulatedSmsGateway(seed=1).send(PHONE, "hello", reference="race"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert errors == []
    assert len(ids) == threads_n
    assert len(set(ids)) == 1
    assert list(SimulatedSms.objects.values_list("provider_message_id", flat=True)) == ids[:1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("+8613800000000", PermanentSendError),  # national number ends in 0000
        ("+8613800009999", RetryableSendError),  # ... in 9999
        ("+8613812340000", PermanentSendError),
        ("+8613812349999", RetryableSendError),
        ("13812345678", PermanentSendError),  # not E.164
        ("+86abc", PermanentSendError),
    ],
)
def test_simulated_magic_and_invalid_numbers(phone: str, error: type[SendError]) -> None:
    with pytest.raises(error) as excinfo:
        SimulatedSmsGateway(seed=1).send(phone, "hello", reference="ref-1")
    assert type(excinfo.value) is error
    if phone.startswith("+86138"):
        assert phone[1:] not in str(excinfo.value)
        assert phone[3:] not in str(excinfo.value)
    assert not SimulatedSms.objects.exists()


@pytest.mark.django_db
def test_simulated_failure_rate_one_always_fails_retryably() -> None:
    gateway = SimulatedSmsGateway(failure_rate=1.0, seed=1)
    for i in range(5):
        with pytest.raises(RetryableSendError) as excinfo:
            gateway.send(PHONE, "hello", reference=f"ref-{i}")
        assert_no_full_phone(str(excinfo.value))
    assert not SimulatedSms.objects.exists()


@pytest.mark.django_db
def test_simulated_permanent_failure_rate_one_always_fails_permanently() -> None:
    gateway = SimulatedSmsGateway(permanent_failure_rate=1.0, seed=1)
    for i in range(5):
        with pytest.raises(PermanentSendError) as excinfo:
            gateway.send(PHONE, "hello", reference=f"ref-{i}")
        assert_no_full_phone(str(excinfo.value))
    assert not SimulatedSms.objects.exists()


@pytest.mark.django_db
def test_simulated_latency_is_at_least_the_configured_time() -> None:
    gateway = SimulatedSmsGateway(latency_ms=50, seed=1)
    started = time.monotonic()
    gateway.send(PHONE, "hello", reference="ref-1")
    assert time.monotonic() - started >= 0.05


def _outcomes(gateway: SimulatedSmsGateway, prefix: str, n: int = 30) -> list[str]:
    outcomes = []
    for i in range(n):
        try:
            gateway.send(PHONE, "hello", reference=f"{prefix}-{i}")
            outcomes.append("ok")
        except RetryableSendError:
            outcomes.append("retry")
        except PermanentSendError:
            outcomes.append("permanent")
    return outcomes


@pytest.mark.django_db
def test_simulated_same_seed_same_outcomes_at_half_failure_rate() -> None:
    first = _outcomes(SimulatedSmsGateway(seed=2024, failure_rate=0.5), "a", 20)
    second = _outcomes(SimulatedSmsGateway(seed=2024, failure_rate=0.5), "b", 20)
    assert first == second
    assert set(first) == {"ok", "retry"}  # a real mix, not a trivially equal run
    assert SimulatedSms.objects.count() == 2 * first.count("ok")


@pytest.mark.django_db
def test_simulated_seeded_randomness_is_reproducible() -> None:
    rates = {"failure_rate": 0.3, "permanent_failure_rate": 0.3}
    first = _outcomes(SimulatedSmsGateway(seed=1234, **rates), "a")
    second = _outcomes(SimulatedSmsGateway(seed=1234, **rates), "b")
    other_seed = _outcomes(SimulatedSmsGateway(seed=4321, **rates), "c")
    assert first == second
    assert set(first) == {"ok", "retry", "permanent"}
    assert other_seed != first


@pytest.mark.django_db
def test_simulated_reads_its_settings_and_get_sender_keeps_one_sequence(settings) -> None:
    settings.SMS_SENDER = "simulated"
    settings.SMS_SIMULATED_LATENCY_MS = 0
    settings.SMS_SIMULATED_FAILURE_RATE = 0.5
    settings.SMS_SIMULATED_PERMANENT_FAILURE_RATE = 0.0
    settings.SMS_SIMULATED_SEED = 99
    sender = get_sender()
    assert isinstance(sender, SimulatedSmsGateway)
    assert (sender.latency_ms, sender.failure_rate, sender.permanent_failure_rate) == (0, 0.5, 0.0)
    # Consecutive get_sender() calls continue one seeded sequence instead of restarting it each send.
    via_get_sender = []
    for i in range(12):
        assert get_sender() is sender
        try:
            get_sender().send(PHONE, "hello", reference=f"s-{i}")
            via_get_sender.append("ok")
        except RetryableSendError:
            via_get_sender.append("retry")
    assert via_get_sender == _outcomes(SimulatedSmsGateway(seed=99, failure_rate=0.5), "d", 12)
    assert set(via_get_sender) == {"ok", "retry"}


@pytest.mark.parametrize(
    "kwargs", [{"failure_rate": 1.5}, {"permanent_failure_rate": -0.1}, {"latency_ms": -1}]
)
def test_simulated_refuses_nonsense_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ImproperlyConfigured):
        SimulatedSmsGateway(**kwargs)


# --- HTTP provider ------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProvider:
    """A real HTTP server on a free local port; each test sets the reply it wants."""

    url: str = ""
    status: int = 200
    body: bytes = b'{"id": "p-1"}'
    extra_headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            fake.received.append(Received(self.path, dict(self.headers.items()), body))
            if fake.delay:
                fake.release.wait(fake.delay)
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                for name, value in fake.extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(fake.body)
            except OSError:
                pass  # the client gave up (the timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _http(provider: FakeProvider, timeout: float = 2.0) -> HttpSmsSender:
    return HttpSmsSender(url=provider.url, secret=SECRET, timeout=timeout)


def test_http_posts_signed_json_and_returns_the_provider_id(provider: FakeProvider) -> None:
    before = int(time.time())
    provider_id = _http(provider).send(PHONE, "您本期应还 106.00 元", reference="msg-42")
    after = int(time.time())
    assert provider_id == "p-1"
    [request] = provider.received
    assert request.path == "/v1/sms"
    assert json.loads(request.body) == {"to": PHONE, "text": "您本期应还 106.00 元", "reference": "msg-42"}
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "msg-42"
    timestamp = request.headers["X-Timestamp"]
    assert before <= int(timestamp) <= after
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Signature"], expected)
    wrong = hmac.new(b"other", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] != wrong


def test_http_sends_a_secret_text_in_full(provider: FakeProvider, caplog) -> None:
    """The real provider is the way to the phone: a sealed code reaches it whole, and no log has it."""
    caplog.set_level(logging.DEBUG)
    text = SecretText("验证码402913，5分钟内有效", redacted="验证码******，5分钟内有效", secrets=("402913",))
    assert _http(provider).send(PHONE, text, reference="otp-1") == "p-1"
    [request] = provider.received
    assert json.loads(request.body)["text"] == "验证码402913，5分钟内有效"
    assert "402913" not in caplog.text


def test_http_reads_its_settings(settings, provider: FakeProvider) -> None:
    settings.SMS_HTTP_URL = provider.url
    settings.SMS_HTTP_SECRET = SECRET
    settings.SMS_HTTP_TIMEOUT = 3
    sender = HttpSmsSender()
    assert (sender.url, sender.secret, sender.timeout) == (provider.url, SECRET, 3.0)
    assert sender.send(PHONE, "hi", reference="r") == "p-1"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, RetryableSendError),
        (503, RetryableSendError),
        (429, RetryableSendError),
        (408, RetryableSendError),
        (400, PermanentSendError),
        (404, PermanentSendError),
        (422, PermanentSendError),
        (302, PermanentSendError),  # redirects are not followed
    ],
)
def test_http_status_maps_to_the_error_class(
    provider: FakeProvider, status: int, error: type[SendError]
) -> None:
    provider.status = status
    # A provider that echoes the number in its error must not leak it through our message.
    provider.body = json.dumps({"error": f"bad number {PHONE} ({NATIONAL})"}).encode()
    provider.extra_headers = {"Location": provider.url + "/elsewhere"} if status == 302 else {}
    with pytest.raises(error) as excinfo:
        _http(provider).send(PHONE, "hello", reference="msg-1")
    assert type(excinfo.value) is error
    message = str(excinfo.value)
    assert str(status) in message
    assert MASKED in message
    assert_no_full_phone(message)
    assert len(provider.received) == 1


@pytest.mark.parametrize("echo", ["+86 138 1234 5678", "138 1234 5678", "138-1234-5678", "(138) 1234.5678"])
@pytest.mark.parametrize(("status", "error"), [(400, PermanentSendError), (200, RetryableSendError)])
def test_http_error_masks_a_formatted_echo_of_the_phone(
    provider: FakeProvider, echo: str, status: int, error: type[SendError]
) -> None:
    provider.status = status
    provider.body = json.dumps({"error": f"bad number {echo}"}).encode()
    with pytest.raises(error) as excinfo:
        _http(provider).send(PHONE, "hello", reference="msg-1")
    message = str(excinfo.value)
    assert re.sub(r"\D", "", echo) not in re.sub(r"\D", "", message.replace(MASKED, "#")), message
    assert "bad number" in message


@pytest.mark.parametrize("body", [b'{"status": "queued"}', b'{"id": ""}', b"not json", b"[1, 2]"])
def test_http_success_without_an_id_is_retryable(provider: FakeProvider, body: bytes) -> None:
    provider.body = body
    with pytest.raises(RetryableSendError) as excinfo:
        _http(provider).send(PHONE, "hello", reference="msg-1")
    assert_no_full_phone(str(excinfo.value))


def test_http_timeout_is_retryable(provider: FakeProvider) -> None:
    provider.delay = 1.0  # cut short at teardown, so the test does not wait it out
    with pytest.raises(RetryableSendError) as excinfo:
        _http(provider, timeout=0.2).send(PHONE, "hello", reference="msg-1")
    assert "timed out" in str(excinfo.value)
    assert_no_full_phone(str(excinfo.value))


def test_http_connection_refused_is_retryable() -> None:
    # A bound socket that never listens: the kernel refuses connections to it, and nobody can take the port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/sms"
        with pytest.raises(RetryableSendError) as excinfo:
            HttpSmsSender(url=url, secret=SECRET, timeout=2).send(PHONE, "hello", reference="msg-1")
    assert_no_full_phone(str(excinfo.value))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "", "secret": SECRET},
        {"url": "file:///etc/passwd", "secret": SECRET},
        {"url": "http://127.0.0.1:1/", "secret": ""},
        {"url": "http://127.0.0.1:1/", "secret": SECRET, "timeout": 0},
    ],
)
def test_http_refuses_incomplete_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ImproperlyConfigured):
        HttpSmsSender(**kwargs)  # type: ignore[arg-type]


# --- get_sender ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("console", ConsoleSender),
        ("memory", InMemorySender),
        ("simulated", SimulatedSmsGateway),
        ("http", HttpSmsSender),
        ("notifications.senders.ConsoleSender", ConsoleSender),
        ("simulators.sms.SimulatedSmsGateway", SimulatedSmsGateway),
        ("notifications.senders.SimulatedSmsGateway", SimulatedSmsGateway),  # its path before simulators/
    ],
)
def test_get_sender_by_name(settings, name: str, cls: type) -> None:
    settings.SMS_HTTP_URL = "http://127.0.0.1:1/v1/sms"
    settings.SMS_HTTP_SECRET = SECRET
    settings.SMS_SENDER = name
    sender = get_sender()
    assert type(sender) is cls
    assert isinstance(sender, SmsSender)


def test_get_sender_defaults_to_simulated(settings) -> None:
    del settings.SMS_SENDER
    assert type(get_sender()) is SimulatedSmsGateway


@pytest.mark.parametrize(
    "name",
    ["carrier-pigeon", "no_such_module.Sender", "notifications.senders.NoSuchClass", "decimal.Decimal"],
)
def test_get_sender_unknown_is_improperly_configured(settings, name: str) -> None:
    settings.SMS_SENDER = name
    with pytest.raises(ImproperlyConfigured):
        get_sender()


def test_get_sender_is_rebuilt_when_a_setting_changes(settings) -> None:
    settings.SMS_SENDER = "simulated"
    settings.SMS_SIMULATED_LATENCY_MS = 0
    first = get_sender()
    assert get_sender() is first
    settings.SMS_SIMULATED_LATENCY_MS = 5
    second = get_sender()
    assert second is not first
    assert isinstance(second, SimulatedSmsGateway)
    assert second.latency_ms == 5
    settings.SMS_SENDER = "console"
    assert type(get_sender()) is ConsoleSender
