"""Error pages a customer can meet: in their language, with a way back, never Django's English defaults."""

from __future__ import annotations

import uuid

import pytest
from django.template import loader
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.services import language_set

WORDS = {
    "zh-hans": {"404": "页面不存在", "back": "返回我的账户", "csrf": "本次操作未执行"},
    "en": {"404": "Page not found", "back": "Back to my account", "csrf": "so nothing was done"},
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_another_customers_plan_is_a_404_in_the_customers_language(signed_in, customer, language) -> None:
    language_set(user=customer, language=language)
    response = signed_in.get(reverse("repayments:plan", args=[uuid.uuid4()]))
    page = response.content.decode()
    assert response.status_code == 404
    assert WORDS[language]["404"] in page
    assert WORDS[language]["back"] in page
    assert f'href="{reverse("repayments:account")}"' in page
    assert "The requested resource was not found on this server" not in page  # Django's default


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_stale_form_is_a_403_that_says_what_to_do(customer, language) -> None:
    language_set(user=customer, language=language)
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    response = client.post(reverse("repayments:cards"), {})
    page = response.content.decode()
    assert response.status_code == 403
    assert WORDS[language]["csrf"] in page
    assert "CSRF verification failed" not in page  # Django's default


@pytest.mark.parametrize(("language", "words"), [("zh-hans", "系统出错了"), ("en", "Something went wrong")])
def test_the_server_error_page_renders_without_a_request(language, words) -> None:
    """Django renders 500.html with no context at all: the page must not need the request or the user."""
    with translation.override(language):
        page = loader.get_template("500.html").render()
    assert words in page
    assert f'<html lang="{language}">' in page
