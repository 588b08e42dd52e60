"""延期还款 on the web: the plan page's link or reasons, the choice of days, the quote with the SMS code, the
done page, a double click, in Chinese and English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from installments.models import InstallmentPlan, PlanExtension
from installments.next_steps import relief_steps


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_plan_page_offers_the_extension(signed_in, current_plan) -> None:
    page = text(signed_in.get(reverse("repayments:plan", args=[current_plan.public_id])))
    assert 'id="extension-link"' in page
    assert reverse("installments:extend", args=[current_plan.public_id]) in page
    assert "延期还款" in page


def test_the_plan_page_says_why_not(signed_in, late_plan) -> None:
    page = text(signed_in.get(reverse("repayments:plan", args=[late_plan.public_id])))
    assert 'id="extension-link"' not in page
    assert 'id="extension-unavailable"' in page
    refused = text(signed_in.get(reverse("installments:extend", args=[late_plan.public_id])))
    assert 'data-code="overdue_beyond_grace"' in refused
    assert 'data-code="extension_too_late"' in refused
    assert 'data-step="pay"' in refused  # the next steps: repay, relief, the hotline
    assert 'data-step="hotline"' in refused


def test_choose_confirm_with_the_code_then_done(signed_in, customer, current_plan, codes) -> None:
    url = reverse("installments:extend", args=[current_plan.public_id])
    due = current_plan.installments.order_by("sequence").first().due_date
    page = text(signed_in.get(url))
    choose = page.split('id="extension-choose"')[1]
    assert choose.count("<option") == 14
    confirm = text(signed_in.post(url, {"action": "choose", "days": "7"}))
    terms = confirm.split('id="extension-terms"')[1]
    assert "¥106.00" in terms
    assert "¥0.00" in terms
    key = re.search(r'name="key" value="([0-9a-f]+)"', confirm).group(1)
    sent = signed_in.post(url, {"action": "send_code", "days": "7", "key": key})
    assert f'value="{key}"' in text(sent)  # the request's key survives sending the code
    code = codes.codes[-1]
    done = signed_in.post(url, {"action": "confirm", "days": "7", "key": key, "code": code})
    assert done.status_code == 302
    assert done.url == reverse("installments:extension_done", args=[current_plan.public_id])
    # A double click posts the same form again: the same extension, not a second one.
    again = signed_in.post(url, {"action": "confirm", "days": "7", "key": key, "code": code})
    assert again.status_code in (200, 302)
    assert PlanExtension.objects.count() == 1
    current_plan.refresh_from_db()
    assert current_plan.extensions_used == 1
    page = text(signed_in.get(done.url))
    assert 'data-days="7"' in page
    new_due = due + timedelta(days=7)
    assert str(new_due.day) in page
    assert 'id="extension-link"' not in text(
        signed_in.get(reverse("repayments:plan", args=[current_plan.public_id]))
    )


def test_a_wrong_code_shows_the_error_on_the_form(signed_in, current_plan, codes) -> None:
    url = reverse("installments:extend", args=[current_plan.public_id])
    signed_in.post(url, {"action": "send_code", "days": "7", "key": "abc"})
    page = text(signed_in.post(url, {"action": "confirm", "days": "7", "key": "abc", "code": "000000"}))
    assert 'id="extension-terms"' in page
    assert "has-error" in page
    assert not PlanExtension.objects.exists()


def test_days_out_of_range_go_back_to_the_choice(signed_in, current_plan) -> None:
    url = reverse("installments:extend", args=[current_plan.public_id])
    page = text(signed_in.post(url, {"action": "choose", "days": "30"}))
    assert 'id="extension-choose"' in page
    assert "has-error" in page


@pytest.mark.parametrize(("language", "words"), [("en", "Extend due date"), ("zh-hans", "延期还款")])
def test_the_pages_read_in_the_accounts_language(signed_in, customer, current_plan, language, words) -> None:
    customer.language = language
    customer.save(update_fields=["language"])
    url = reverse("installments:extend", args=[current_plan.public_id])
    assert words in text(signed_in.get(url))
    confirm = text(signed_in.post(url, {"action": "choose", "days": "3"}))
    assert ("New due date" if language == "en" else "新的还款日") in confirm


def test_another_customers_plan_is_404(client, other_customer, current_plan) -> None:
    client.force_login(other_customer)
    assert client.get(reverse("installments:extend", args=[current_plan.public_id])).status_code == 404
    assert (
        client.post(
            reverse("installments:extend", args=[current_plan.public_id]), {"action": "choose", "days": "3"}
        ).status_code
        == 404
    )
    assert not InstallmentPlan.objects.filter(extensions_used__gt=0).exists()


def test_relief_steps_offer_the_extension_where_it_is_allowed(current_plan, late_plan) -> None:
    steps = relief_steps(current_plan)
    assert steps[0].kind == "extend"
    assert steps[0].url == reverse("installments:extend", args=[current_plan.public_id])
    assert "extend" not in [s.kind for s in relief_steps(current_plan, extend=False)]
    assert "extend" not in [s.kind for s in relief_steps(late_plan)]


def test_the_done_page_reads_in_english(signed_in, customer, current_plan, codes) -> None:
    customer.language = "en"
    customer.save(update_fields=["language"])
    url = reverse("installments:extend", args=[current_plan.public_id])
    confirm = text(signed_in.post(url, {"action": "choose", "days": "5"}))
    key = re.search(r'name="key" value="([0-9a-f]+)"', confirm).group(1)
    signed_in.post(url, {"action": "send_code", "days": "5", "key": key})
    signed_in.post(url, {"action": "confirm", "days": "5", "key": key, "code": codes.codes[-1]})
    page = text(signed_in.get(reverse("installments:extension_done", args=[current_plan.public_id])))
    main = page.split("<main")[1].split("</main>")[0].replace(current_plan.display_name, "")
    assert "is now due on" in main
    assert not re.search(r"[\u4e00-\u9fff]", main), main
