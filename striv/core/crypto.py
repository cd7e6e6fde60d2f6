"""Secret values: hybrid RSA-OAEP + Fernet encryption.

striv holds one RSA-2048 private key (PEM, PKCS8, unencrypted). A secret parameter value is the object
``{"_striv_type": "secret", "encrypted": E}`` where ``E`` is built like this:

1. a fresh Fernet key ``K`` is generated; ``K`` is the 44-character urlsafe-base64 text that Fernet uses, with
   its ``=`` padding;
2. the cleartext (UTF-8) is encrypted with ``K`` into a Fernet token (urlsafe base64, padded, ASCII);
3. the ASCII bytes of ``K`` (not the 32 raw bytes it encodes) are encrypted with the public key using RSA-OAEP with
   MGF1-SHA256, SHA256 and no label;
4. ``E = base64(json({"key": base64(step 3), "payload": step 2}))``, using the standard base64 alphabet (``+/``,
   padded) for both the outer text and ``key``; the JSON values are strings.

This is byte-for-byte the layout used by the original striv, so values written for it decrypt here and the other
way round. Its browser encoder wrote the same layout with compact JSON separators, which decrypts equally well.

Decryption unwraps the Fernet key with RSA, the expensive step. The unwrapped Fernet key is kept in a small
in-process LRU cache keyed by the private key and the wrapped key, so rendering thousands of jobs that share a
dimension's secret costs one RSA operation. Cleartext itself is never cached. The cache adds no exposure beyond
what the process already holds: it has the private key, which opens every value anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from striv import secret

logger = logging.getLogger(__name__)

SECRET_TYPE = secret.TYPE
TYPE_KEY = secret.TYPE_KEY
KEY_SIZE = 2048

_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_WHITESPACE = re.compile(r"\s+")


class CryptoError(Exception):
    """A key or a secret value cannot be used; the message says why and never contains cleartext."""


def key_generate() -> str:
    """Return a new RSA-2048 private key as unencrypted PEM PKCS8 text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return pem.decode("ascii")


@lru_cache(maxsize=8)
def private_key_load(pem: str) -> rsa.RSAPrivateKey:
    """Parse a PEM RSA private key; returns the key object, cached per PEM text.

    Raises CryptoError when ``pem`` is not an unencrypted PEM private key or not an RSA key.
    """
    if not isinstance(pem, str) or "PRIVATE KEY" not in pem:
        raise CryptoError("not a PEM private key")
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:
        # cryptography raises TypeError when the PEM is password protected.
        raise CryptoError("the private key is password protected; striv needs an unencrypted PKCS8 key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CryptoError("not a PEM private key (the PEM text cannot be parsed)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError(f"not an RSA private key ({type(key).__name__})")
    return key


@lru_cache(maxsize=8)
def public_key_load(pem: str) -> rsa.RSAPublicKey:
    """Parse a PEM RSA public key (SubjectPublicKeyInfo); returns the key object, cached per PEM text.

    Raises CryptoError when ``pem`` is not a PEM public key or not an RSA key.
    """
    if not isinstance(pem, str) or "PUBLIC KEY" not in pem:
        raise CryptoError("not a PEM public key")
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm):
        raise CryptoError("not a PEM public key (the PEM text cannot be parsed)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise CryptoError(f"not an RSA public key ({type(key).__name__})")
    return key


def public_key_recover(private_pem: str) -> str:
    """Return the public half of ``private_pem`` as PEM SubjectPublicKeyInfo text; raises CryptoError."""
    pem = (
        private_key_load(private_pem)
        .public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    return pem.decode("ascii")


def value_encrypt(cleartext: str, *, public_pem: str) -> dict[str, str]:
    """Encrypt ``cleartext`` for the holder of the private half of ``public_pem``.

    Returns the secret value object ``{"_striv_type": "secret", "encrypted": ...}``. Raises CryptoError when the
    key is unusable or ``cleartext`` is not a string.
    """
    if not isinstance(cleartext, str):
        raise CryptoError(f"cleartext must be a string, not {type(cleartext).__name__}")
    public_key = public_key_load(public_pem)
    fernet_key = Fernet.generate_key()
    wrapped_key = public_key.encrypt(fernet_key, _OAEP)
    token = Fernet(fernet_key).encrypt(cleartext.encode("utf-8"))
    envelope = {
        "key": base64.b64encode(wrapped_key).decode("ascii"),
        "payload": token.decode("ascii"),
    }
    encrypted = base64.b64encode(json.dumps(envelope).encode("utf-8")).decode("ascii")
    return secret.make(encrypted)


def value_decrypt(value: Mapping[str, Any] | str, *, private_pem: str) -> str:
    """Decrypt a secret value object, or the bare ``encrypted`` text of one, with ``private_pem``.

    Returns the cleartext. Raises CryptoError when the key is unusable, when the value is malformed, or when it
    was encrypted with another key.
    """
    encrypted = _encrypted_text(value)
    private_key = private_key_load(private_pem)
    wrapped_key, token = _envelope_open(encrypted)
    fernet_key = _fernet_key_unwrap(private_pem, private_key, wrapped_key)
    try:
        cleartext = Fernet(fernet_key).decrypt(token)
    except InvalidToken:
        raise CryptoError("malformed secret value: the payload does not match its key (damaged or altered)") from None
    try:
        return cleartext.decode("utf-8")
    except UnicodeDecodeError:
        raise CryptoError("malformed secret value: the cleartext is not UTF-8 text") from None


def _encrypted_text(value: Mapping[str, Any] | str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        raise CryptoError(f"malformed secret value: expected an object or a string, not {type(value).__name__}")
    if not secret.is_secret(value):
        if value.get("type") == SECRET_TYPE:
            raise CryptoError('malformed secret value: mark secrets with "_striv_type": "secret", not "type"')
        raise CryptoError('malformed secret value: the object has no "_striv_type": "secret"')
    if value.get(TYPE_KEY) != SECRET_TYPE:
        raise CryptoError('malformed secret value: "_striv_type" must be "secret"')
    encrypted = value.get("encrypted")
    if not isinstance(encrypted, str):
        raise CryptoError('malformed secret value: "encrypted" must be a string')
    return encrypted


def _b64decode(text: str) -> bytes:
    # Values may be wrapped over several lines in state files; only whitespace is forgiven.
    return base64.b64decode(_WHITESPACE.sub("", text), validate=True)


def _envelope_open(encrypted: str) -> tuple[bytes, bytes]:
    """Return (RSA-wrapped Fernet key, Fernet token) from the ``encrypted`` text; raises CryptoError."""
    try:
        raw = _b64decode(encrypted)
    except (binascii.Error, ValueError):
        raise CryptoError("malformed secret value: the encrypted text is not base64") from None
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CryptoError("malformed secret value: the decoded text is not JSON") from None
    if not (
        isinstance(envelope, dict) and isinstance(envelope.get("key"), str) and isinstance(envelope.get("payload"), str)
    ):
        raise CryptoError('malformed secret value: expected a JSON object with string "key" and "payload"')
    try:
        wrapped_key = _b64decode(envelope["key"])
    except (binascii.Error, ValueError):
        raise CryptoError('malformed secret value: "key" is not base64') from None
    try:
        token = envelope["payload"].encode("ascii")
    except UnicodeEncodeError:
        raise CryptoError('malformed secret value: "payload" is not a Fernet token') from None
    return wrapped_key, token


def _fernet_key_unwrap(private_pem: str, private_key: rsa.RSAPrivateKey, wrapped_key: bytes) -> bytes:
    expected = private_key.key_size // 8
    if len(wrapped_key) != expected:
        raise CryptoError(
            f"value was encrypted with another key (its wrapped key has {len(wrapped_key)} bytes, "
            f"this {private_key.key_size}-bit key expects {expected})"
        )
    return _fernet_key_unwrap_cached(private_pem, wrapped_key)


@lru_cache(maxsize=1024)
def _fernet_key_unwrap_cached(private_pem: str, wrapped_key: bytes) -> bytes:
    try:
        fernet_key = private_key_load(private_pem).decrypt(wrapped_key, _OAEP)
    except ValueError:
        # OAEP decoding fails, without saying more, when the key does not match.
        raise CryptoError("value was encrypted with another key") from None
    try:
        Fernet(fernet_key)
    except (ValueError, binascii.Error):
        raise CryptoError("malformed secret value: the decrypted key is not a Fernet key") from None
    return fernet_key
