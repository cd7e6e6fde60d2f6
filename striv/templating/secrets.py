"""Secret params: finding them, redacting them for display and decrypting them for a push.

What a secret is (its format) is defined once in ``striv.secret``; here secrets are walked inside params.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from striv.secret import REDACTED
from striv.secret import TYPE_KEY as SECRET_TYPE_KEY
from striv.templating.errors import RenderError
from striv.templating.layers import Layer
from striv.templating.params import type_name

Decrypt = Callable[[str], str]

_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def iter_secrets(params: Mapping[str, Any]) -> Iterator[tuple[str, dict]]:
    """Yield ``(path, secret)`` for every secret object in ``params`` (raw layer params or merged params).

    Paths are dotted, with ``[i]`` for array items (``env.DB_PASSWORD``, ``sidecars[0].token``).
    """
    for key, value in params.items():
        # Most params are scalars; only containers are walked.
        if type(value) not in _SCALAR_TYPES:
            yield from _secrets_walk(value, str(key))


def _secrets_walk(value: Any, path: str) -> Iterator[tuple[str, dict]]:
    if isinstance(value, Mapping):
        if SECRET_TYPE_KEY in value:
            yield path, dict(value)
            return
        for key, item in value.items():
            if type(item) not in _SCALAR_TYPES:
                yield from _secrets_walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if type(item) not in _SCALAR_TYPES:
                yield from _secrets_walk(item, f"{path}[{index}]")


def _secrets_replace(value: Any, path: str, leaf: str, replace: Callable[[dict, str, str], Any]) -> Any:
    """Return ``value`` with every secret replaced by ``replace(secret, path, provenance path)``."""
    if type(value) is dict:
        if SECRET_TYPE_KEY in value:
            return replace(value, path, leaf)
        return {key: _secrets_replace(item, f"{path}.{key}", f"{leaf}.{key}", replace) for key, item in value.items()}
    if type(value) is list:
        # Arrays are leaves for provenance, so items keep the array's path there.
        return [_secrets_replace(item, f"{path}[{index}]", leaf, replace) for index, item in enumerate(value)]
    return value


def params_top_replace(params: dict, replace: Callable[[dict, str, str], Any]) -> dict:
    return {key: _secrets_replace(value, key, key, replace) for key, value in params.items()}


def redact(secret: dict, path: str, leaf: str) -> str:
    return REDACTED


def decrypter(
    decrypt: Decrypt | None, provenance: Mapping[str, str], memo: dict[str, str]
) -> Callable[[dict, str, str], str]:
    def replace(secret: dict, path: str, leaf: str) -> str:
        layer = provenance.get(leaf)
        if decrypt is None:
            raise RenderError(
                f"secret param {path} in layer {layer} needs an encryption key, none is configured",
                layer=layer,
                param=path,
                kind="secret",
            )
        encrypted = secret["encrypted"]
        if encrypted in memo:
            return memo[encrypted]
        try:
            clear = decrypt(encrypted)
        except Exception as exc:  # any decrypt failure becomes a render error naming the param
            raise RenderError(
                f"secret param {path} in layer {layer} cannot be decrypted: {exc}",
                layer=layer,
                param=path,
                kind="secret",
            ) from exc
        if not isinstance(clear, str):
            raise RenderError(
                f"secret param {path} in layer {layer} decrypted to a {type_name(clear)}, not a string",
                layer=layer,
                param=path,
                kind="secret",
            )
        memo[encrypted] = clear
        return clear

    return replace


def secret_texts(layers: Iterable[Layer]) -> list[str]:
    """The ciphertexts of every secret in ``layers``, sorted and unique."""
    return sorted({str(value.get("encrypted")) for layer in layers for _, value in iter_secrets(layer.params)})
