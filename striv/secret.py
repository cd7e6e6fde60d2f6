"""The secret value format, defined once for crypto, templating, drivers, forms and templates.

A secret is the object ``{"_striv_type": "secret", "encrypted": "<ciphertext>"}``. Any mapping that carries the
``_striv_type`` marker counts as a secret, even a broken one: it is then refused loudly (by templating or crypto)
instead of passing as plain data and reaching a cluster unencrypted. This module is pure and imports nothing of
striv, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TYPE_KEY = "_striv_type"
TYPE = "secret"
ENCRYPTED_KEY = "encrypted"
# What a secret shows wherever cleartext must not appear (previews, stored specs, API, UI).
REDACTED = "<redacted>"


def is_secret(value: Any) -> bool:
    """Return True when ``value`` is marked as a secret (a mapping carrying ``_striv_type``), well-formed or not."""
    return isinstance(value, Mapping) and TYPE_KEY in value


def is_well_formed(value: Any) -> bool:
    """Return True when ``value`` is exactly ``{"_striv_type": "secret", "encrypted": <string>}``."""
    return (
        isinstance(value, Mapping)
        and len(value) == 2
        and value.get(TYPE_KEY) == TYPE
        and isinstance(value.get(ENCRYPTED_KEY), str)
    )


def make(encrypted: str) -> dict[str, str]:
    """Return the secret object holding the ciphertext ``encrypted``."""
    return {TYPE_KEY: TYPE, ENCRYPTED_KEY: encrypted}


def ciphertext(value: Mapping[str, Any]) -> str:
    """The ciphertext of a secret object as text (empty when it has none)."""
    encrypted = value.get(ENCRYPTED_KEY)
    return encrypted if isinstance(encrypted, str) else ""
