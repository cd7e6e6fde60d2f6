"""Secret and account commands, through call_command."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from striv.core import crypto


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(*args, stdout=out)
    return out.getvalue()


def test_generate_key_prints_a_pkcs8_rsa_2048_key():
    pem = run("generate-key")
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert load_pem_private_key(pem.encode(), password=None).key_size == 2048


def test_encrypt_value_from_argument_with_public_key_file_then_decrypt(tmp_path, settings, private_key):
    public_file = tmp_path / "public.pem"
    public_file.write_text(crypto.public_key_recover(private_key))
    settings.ENCRYPTION_KEY = ""
    value = json.loads(run("encrypt-value", "hunter2", "--public-key-file", str(public_file)))
    assert value["_striv_type"] == "secret" and "hunter2" not in value["encrypted"]
    settings.ENCRYPTION_KEY = private_key
    assert run("decrypt-value", json.dumps(value)) == "hunter2\n"
    assert run("decrypt-value", value["encrypted"]) == "hunter2\n"


def test_encrypt_value_reads_stdin_and_derives_public_key_from_configured_key(monkeypatch, encryption_key):
    value = json.loads(run("encrypt-value", stdin="from stdin\n", monkeypatch=monkeypatch))
    assert crypto.value_decrypt(value, private_pem=encryption_key) == "from stdin"


def test_encrypt_value_without_any_key_is_a_clear_error(no_encryption_key):
    with pytest.raises(CommandError, match="no encryption key is configured"):
        run("encrypt-value", "x")


def test_decrypt_value_with_another_key_is_a_clear_error(encryption_key, other_private_key):
    value = crypto.value_encrypt("x", public_pem=crypto.public_key_recover(other_private_key))
    with pytest.raises(CommandError, match="another key"):
        run("decrypt-value", json.dumps(value))


def test_recover_public_key_matches_the_configured_key(encryption_key, tmp_path):
    assert run("recover-public-key") == crypto.public_key_recover(encryption_key)
    key_file = tmp_path / "k.pem"
    key_file.write_text(encryption_key)
    assert run("recover-public-key", "--private-key-file", str(key_file)) == crypto.public_key_recover(encryption_key)


def test_encryption_key_file_setting_is_read(settings, tmp_path, private_key):
    key_file = tmp_path / "k.pem"
    key_file.write_text(private_key)
    settings.ENCRYPTION_KEY = ""
    settings.ENCRYPTION_KEY_FILE = str(key_file)
    assert run("recover-public-key") == crypto.public_key_recover(private_key)


@pytest.mark.django_db
def test_create_login_prints_a_fresh_password_each_time():
    first = run("create-login", "admin")
    second = run("create-login", "admin")
    password = second.rsplit(" ", 1)[1].strip()
    assert first != second
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
