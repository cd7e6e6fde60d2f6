"""Secret and account commands, through call_command."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from striv.core import crypto


@pytest.fixture
def out() -> io.StringIO:
    """What a command prints; `printed(out)` takes it."""
    return io.StringIO()


def printed(out: io.StringIO) -> str:
    """Return and clear what was written to ``out``."""
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def test_generate_key_prints_a_pkcs8_rsa_2048_key(out):
    call_command("generate-key", stdout=out)
    pem = printed(out)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(pem.encode(), password=None).key_size == 2048


def test_encrypt_value_from_argument_with_public_key_file_then_decrypt(tmp_path, settings, private_key, out):
    public_file = tmp_path / "public.pem"
    public_file.write_text(crypto.public_key_recover(private_key))
    settings.ENCRYPTION_KEY = ""
    call_command("encrypt-value", "hunter2", "--public-key-file", str(public_file), stdout=out)
    value = json.loads(printed(out))
    assert value["_striv_type"] == "secret" and "hunter2" not in value["encrypted"]
    settings.ENCRYPTION_KEY = private_key
    call_command("decrypt-value", json.dumps(value), stdout=out)
    assert printed(out) == "hunter2\n"
    call_command("decrypt-value", value["encrypted"], stdout=out)
    assert printed(out) == "hunter2\n"


def test_encrypt_value_reads_stdin_and_derives_public_key_from_configured_key(monkeypatch, encryption_key, out):
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    call_command("encrypt-value", stdout=out)
    value = json.loads(printed(out))
    assert crypto.value_decrypt(value, private_pem=encryption_key) == "from stdin"


def test_encrypt_value_without_any_key_is_a_clear_error(no_encryption_key, out):
    with pytest.raises(CommandError, match="no encryption key is configured"):
        call_command("encrypt-value", "x", stdout=out)


def test_decrypt_value_with_another_key_is_a_clear_error(encryption_key, other_private_key, out):
    value = crypto.value_encrypt("x", public_pem=crypto.public_key_recover(other_private_key))
    with pytest.raises(CommandError, match="another key"):
        call_command("decrypt-value", json.dumps(value), stdout=out)


def test_recover_public_key_matches_the_configured_key(encryption_key, tmp_path, out):
    call_command("recover-public-key", stdout=out)
    assert printed(out) == crypto.public_key_recover(encryption_key)
    key_file = tmp_path / "k.pem"
    key_file.write_text(encryption_key)
    call_command("recover-public-key", "--private-key-file", str(key_file), stdout=out)
    assert printed(out) == crypto.public_key_recover(encryption_key)


def test_encryption_key_file_setting_is_read(settings, tmp_path, private_key, out):
    key_file = tmp_path / "k.pem"
    key_file.write_text(private_key)
    settings.ENCRYPTION_KEY = ""
    settings.ENCRYPTION_KEY_FILE = str(key_file)
    call_command("recover-public-key", stdout=out)
    assert printed(out) == crypto.public_key_recover(private_key)


@pytest.mark.django_db
def test_create_login_prints_a_fresh_password_each_time(out):
    call_command("create-login", "admin", stdout=out)
    first = printed(out)
    call_command("create-login", "admin", stdout=out)
    second = printed(out)
    assert first.startswith("Login created user 'admin' with password: ")
    assert second.startswith("Login password reset for user 'admin' with password: ")
    first_password, password = (text.rsplit(" ", 1)[1].strip() for text in (first, second))
    assert first_password != password
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password(password) and not user.check_password(first_password)


def test_generate_key_writes_a_file_only_its_owner_can_read(tmp_path):
    import stat

    from django.core.management.base import CommandError

    target = tmp_path / "key.pem"
    call_command("generate-key", "--output", str(target), stdout=io.StringIO())
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("generate-key", "--output", str(target), stdout=io.StringIO())
