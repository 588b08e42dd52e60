from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import User
from core.masking import mask_name, mask_phone


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "138****5678"),
        ("13812345678", "138****5678"),
        ("+14155552671", "415****2671"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("王小明", "王**"),
        ("欧阳娜娜", "欧***"),
        ("John Smith", "J*** S****"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_phone_is_the_login_and_stored_in_e164(db: None) -> None:
    user = User.objects.create_user("138 1234 5678", "pw-123456789", real_name="张三")
    user.refresh_from_db()
    assert str(user.phone) == "+8613812345678"
    assert User.USERNAME_FIELD == "phone"
    assert user.check_password("pw-123456789")
    assert user.masked_phone == "138****5678"
    assert user.masked_name == "张*"
    assert "5678" in str(user)
    assert "1234" not in str(user)


def test_invalid_phone_is_refused(db: None) -> None:
    with pytest.raises(ValidationError) as excinfo:
        User.objects.create_user("12345", "pw-123456789", real_name="张三")
    assert "phone" in excinfo.value.message_dict
    assert not User.objects.exists()


def test_phone_is_unique(db: None) -> None:
    User.objects.create_user("+8613812345678", "pw-123456789", real_name="张三")
    with pytest.raises((IntegrityError, ValidationError)), transaction.atomic():
        User.objects.create_user("13812345678", "pw-123456789", real_name="李四")


def test_authenticate_with_phone(client, db: None) -> None:
    User.objects.create_user("+8613812345678", "pw-123456789", real_name="张三")
    url = reverse("accounts:login")
    assert client.post(url, {"username": "13812345678", "password": "wrong"}).status_code == 200
    assert client.post(url, {"username": "+8613812345678", "password": "pw-123456789"}).status_code == 302


def test_superuser_reaches_admin(client, db: None) -> None:
    admin = User.objects.create_superuser("+8613900000000", "admin-pw-1234", real_name="客服")
    client.force_login(admin)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    assert "139****0000" in response.content.decode()
