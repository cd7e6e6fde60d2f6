"""Cleaning text that comes from outside (a cluster's errors, warnings and plans) of secrets before striv keeps it.

A cluster may quote a value it was sent: raw, or escaped the way its language prints strings. A Redactor knows
every form of each secret a program is likely to print - raw, JSON (ASCII or not, with Go's HTML escapes), Go's
``%q``, Python's ``repr`` with either quote, ``\\uXXXX`` escapes of every character, those forms escaped once more
(a message quoting JSON), URL and HTML escapes - and replaces each with ``<redacted>``. Pure: no app, no database.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from striv.secret import REDACTED

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _json(text: str, *, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def _go_html(text: str) -> str:
    # Go's encoding/json escapes these by default.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _go_quote(text: str, *, ascii_only: bool) -> str:
    """Go's strconv.Quote (``%q``), or QuoteToASCII (``%+q``), without the quotes."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) > 0x7E and (ascii_only or not char.isprintable()):
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return "".join(out)


def _python_repr(text: str, quote_char: str) -> str:
    """Python's repr of ``text`` as if quoted with ``quote_char``, without the quotes."""
    printed = repr(text)
    body = printed[1:-1]
    if printed[0] == quote_char:
        return body
    if quote_char == "'":  # repr chose " because text holds ' and no "
        return body.replace("'", "\\'")
    return body.replace("\\'", "'").replace('"', '\\"')


def _all_unicode(text: str) -> str:
    return "".join(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}" for char in text)


def secret_forms(cleartext: str) -> set[str]:
    """Every form in which a program might print ``cleartext`` (empty for an empty string)."""
    if not cleartext:
        return set()
    once = {
        cleartext,
        _json(cleartext, ascii_only=True),
        _json(cleartext, ascii_only=False),
        _go_html(_json(cleartext, ascii_only=True)),
        _go_html(_json(cleartext, ascii_only=False)),
        _go_quote(cleartext, ascii_only=False),
        _go_quote(cleartext, ascii_only=True),
        repr(cleartext)[1:-1],
        cleartext.encode("unicode_escape").decode("ascii"),
        _python_repr(cleartext, "'"),
        _python_repr(cleartext, '"'),
        _all_unicode(cleartext),
        _all_unicode(cleartext).upper().replace("\\U", "\\u"),
        quote(cleartext, safe=""),
        quote_plus(cleartext, safe=""),
        html.escape(cleartext),
        html.escape(cleartext, quote=False),
    }
    twice = {_json(form, ascii_only=True) for form in once} | {_python_repr(form, "'") for form in once}
    return {form for form in once | twice if form}


def fingerprint(cleartext: str, *, key: str) -> str:
    """A short keyed fingerprint of ``cleartext``: equal for equal values, useless for guessing them."""
    return hmac.new(key.encode(), cleartext.encode(), hashlib.sha256).hexdigest()[:12]


class Redactor:
    """Replaces every form of the given secrets with ``<redacted>``; falsy when there is nothing to redact."""

    def __init__(self, cleartexts: Iterable[str]) -> None:
        forms = {form for cleartext in cleartexts if cleartext for form in secret_forms(cleartext)}
        # Longest first, so that a form containing a shorter one is replaced whole.
        self._pattern = (
            re.compile("|".join(re.escape(form) for form in sorted(forms, key=lambda f: (-len(f), f))))
            if forms
            else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """``text`` with every secret form replaced."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def contains(self, text: str) -> bool:
        """True when ``text`` holds any form of a secret."""
        return self._pattern is not None and bool(self._pattern.search(text))

    def value(self, value: Any, *, mark: Any = None) -> Any:
        """``value`` (JSON data) with every string that holds a secret replaced whole, by ``mark(leaf)`` when given
        (e.g. a fingerprint) or ``<redacted>``. Keys are left alone: in a cluster's answer they are its structure."""
        if isinstance(value, str):
            if self.contains(value):
                return mark(value) if mark else REDACTED
            return value
        if isinstance(value, dict):
            return {k: self.value(v, mark=mark) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item, mark=mark) for item in value]
        return value
