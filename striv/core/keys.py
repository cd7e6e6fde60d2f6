"""Access to the configured encryption key (STRIV_ENCRYPTION_KEY or STRIV_ENCRYPTION_KEY_FILE)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from striv.core import crypto

logger = logging.getLogger(__name__)


class NoEncryptionKey(crypto.CryptoError):
    """Raised when a secret must be encrypted or decrypted but no key is configured."""

    def __init__(self) -> None:
        super().__init__(
            "no encryption key is configured: set STRIV_ENCRYPTION_KEY or STRIV_ENCRYPTION_KEY_FILE "
            "(manage.py generate-key makes one)"
        )


def _read_key_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ImproperlyConfigured(f"STRIV_ENCRYPTION_KEY_FILE {path!r} cannot be read: {exc.strerror}") from None


def private_key_pem() -> str | None:
    """Return the configured private key as PEM text, or None when secrets are not enabled."""
    if settings.ENCRYPTION_KEY:
        return settings.ENCRYPTION_KEY
    if settings.ENCRYPTION_KEY_FILE:
        return _read_key_file(settings.ENCRYPTION_KEY_FILE)
    return None


def public_key_pem() -> str:
    """Return the public half of the configured key; raises NoEncryptionKey without one."""
    private = private_key_pem()
    if not private:
        raise NoEncryptionKey()
    return crypto.public_key_recover(private)


def decrypt(encrypted: str) -> str:
    """Decrypt a secret's ``encrypted`` text with the configured key.

    Raises NoEncryptionKey without a key and CryptoError when the value is malformed or made with another key.
    """
    private = private_key_pem()
    if not private:
        raise NoEncryptionKey()
    return crypto.value_decrypt(encrypted, private_pem=private)


def encrypt(cleartext: str) -> dict:
    """Encrypt ``cleartext`` with the configured key's public half; returns the secret value object."""
    return crypto.value_encrypt(cleartext, public_pem=public_key_pem())


@lru_cache(maxsize=65536)
def _verified(key_digest: str, encrypted: str) -> bool:
    # Remembers only that a ciphertext decrypts under a key, never the cleartext.
    private = private_key_pem()
    if not private:
        raise NoEncryptionKey()
    crypto.value_decrypt(encrypted, private_pem=private)
    return True


def verify(value: Any) -> None:
    """Check that a secret value (object or encrypted text) decrypts with the configured key, discarding the cleartext.

    Raises NoEncryptionKey or CryptoError. Results are cached per key, so re-validating thousands of jobs that
    share a secret costs one RSA operation.
    """
    private = private_key_pem()
    if not private:
        raise NoEncryptionKey()
    encrypted = value.get("encrypted") if isinstance(value, Mapping) else value
    if not isinstance(encrypted, str):
        raise crypto.CryptoError("malformed secret value: 'encrypted' must be a string")
    _verified(hashlib.sha256(private.encode()).hexdigest(), encrypted)
