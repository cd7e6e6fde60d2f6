"""Param layers as written: key rules, JSON-only values, well-formed secrets, dotted keys expanded.

Each layer is checked and expanded on its own (``params_validate``, ``layer_expand``); merging layers is in
``merge.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from striv import secret
from striv.templating.errors import RenderError

PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
SECRET_TYPE_KEY = secret.TYPE_KEY
SECRET_TYPE = secret.TYPE


def is_object(value: Any) -> bool:
    """A mergeable object: a dict that is not a secret (secrets are leaves)."""
    return type(value) is dict and SECRET_TYPE_KEY not in value


def type_name(value: Any) -> str:
    return type(value).__name__


def _secret_check(value: Mapping, layer: str, path: str) -> dict:
    if secret.is_well_formed(value):
        return secret.make(value[secret.ENCRYPTED_KEY])
    raise RenderError(
        f'param {path} in layer {layer} has "{SECRET_TYPE_KEY}" but is not a valid secret; a secret is exactly '
        f'{{"{SECRET_TYPE_KEY}": "{SECRET_TYPE}", "encrypted": "<string>"}}',
        layer=layer,
        param=path,
    )


# Templates hold numbers as doubles: integers past 2^53 would change silently on the way to the cluster.
MAX_SAFE_INTEGER = 2**53


def _json_copy(value: Any, layer: str, path: str) -> tuple[Any, bool]:
    """Return a fresh copy of ``value`` as plain JSON data and whether it holds a secret.

    Raises RenderError naming ``layer`` and ``path`` for anything that is not JSON data.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value, False
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value, False
        raise RenderError(
            f"param {path} in layer {layer} is {value}, beyond what templates can hold exactly (integers up to "
            f"2^53 = {MAX_SAFE_INTEGER:,} either way; write larger ones as strings)",
            layer=layer,
            param=path,
        )
    if kind is float:
        if not math.isfinite(value):
            raise RenderError(
                f"param {path} in layer {layer} is {value}, which is not JSON data (numbers must be finite)",
                layer=layer,
                param=path,
            )
        return value, False
    if kind is dict or isinstance(value, Mapping):
        if SECRET_TYPE_KEY in value:
            return _secret_check(value, layer, path), True
        out = {}
        secret = False
        for key, item in value.items():
            if type(key) is not str:
                raise RenderError(
                    f"param {path} in layer {layer} has the object key {key!r} of type {type_name(key)}; "
                    "object keys must be strings",
                    layer=layer,
                    param=path,
                )
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                out[key] = item
            else:
                out[key], found = _json_copy(item, layer, f"{path}.{key}")
                secret = secret or found
        return out, secret
    if kind is list:
        out_list = []
        secret = False
        for index, item in enumerate(value):
            copied, found = _json_copy(item, layer, f"{path}[{index}]")
            out_list.append(copied)
            secret = secret or found
        return out_list, secret
    # Subclasses (IntEnum, str enums) serialize as their base JSON type.
    if isinstance(value, bool | int | str):
        if isinstance(value, bool):
            return bool(value), False
        return (_json_copy(int(value), layer, path)[0] if isinstance(value, int) else str(value)), False
    if isinstance(value, float):
        return _json_copy(float(value), layer, path)
    raise RenderError(
        f"param {path} in layer {layer} is a {type_name(value)}, which is not JSON data "
        "(allowed: string, number, boolean, null, array, object)",
        layer=layer,
        param=path,
    )


def _conflict(layer: str, key: str, prefix: str) -> RenderError:
    return RenderError(
        f"param {key} in layer {layer} conflicts with another key of the same layer: {prefix} is set both as a "
        "value and as an object (or twice)",
        layer=layer,
        param=key,
    )


def _merge_within_layer(dst: dict, src: dict, layer: str, key: str, prefix: str) -> None:
    """Merge ``src`` into ``dst``, two parts of one layer; any leaf set by both is a conflict."""
    for name, value in src.items():
        path = f"{prefix}.{name}"
        if name not in dst:
            dst[name] = value
        elif is_object(dst[name]) and is_object(value):
            _merge_within_layer(dst[name], value, layer, key, path)
        else:
            raise _conflict(layer, key, path)


_key_parts_cache: dict[str, tuple[str, ...]] = {}
# Param keys repeat across jobs and layers; checking each distinct key once keeps bulk renders fast.
_KEY_PARTS_CACHE_MAX = 10_000


def _key_parts(key: Any, layer: str) -> tuple[str, ...]:
    """Return the dotted parts of a valid top-level param key; raises RenderError naming ``layer`` otherwise."""
    parts = _key_parts_cache.get(key) if type(key) is str else None
    if parts is not None:
        return parts
    if type(key) is not str or not PARAM_KEY_RE.match(key) or "" in key.split("."):
        raise RenderError(
            f"param key {key!r} in layer {layer} is invalid: a key starts with a letter or '_' and holds letters, "
            "digits, '_' and single dots between parts",
            layer=layer,
            param=str(key),
        )
    parts = tuple(key.split("."))
    if SECRET_TYPE_KEY in parts:
        raise RenderError(
            f"param key {key!r} in layer {layer} is invalid: {SECRET_TYPE_KEY} is reserved for secret objects",
            layer=layer,
            param=key,
        )
    if len(_key_parts_cache) < _KEY_PARTS_CACHE_MAX:
        _key_parts_cache[key] = parts
    return parts


def layer_expand(params: Mapping[str, Any], layer: str) -> tuple[dict, bool]:
    """Return one layer's params as fresh nested plain JSON (dotted keys expanded) and whether it holds a secret.

    Raises RenderError naming ``layer`` and the key for a bad key, a non-JSON value or a conflict inside the layer.
    """
    if type(params) is not dict and not isinstance(params, Mapping):
        raise RenderError(f"params of layer {layer} must be an object, got {type_name(params)}", layer=layer)
    out: dict[str, Any] = {}
    has_secret = False
    for key, raw in params.items():
        parts = _key_parts(key, layer)
        kind = type(raw)
        if kind is str or kind is bool or raw is None:
            value = raw
        else:
            value, found = _json_copy(raw, layer, key)
            has_secret = has_secret or found
        if len(parts) == 1:
            node = out
            last = key
        else:
            node = out
            for index, part in enumerate(parts[:-1]):
                child = node.get(part)
                if child is None:
                    if part in node:
                        raise _conflict(layer, key, ".".join(parts[: index + 1]))
                    child = node[part] = {}
                elif not is_object(child):
                    raise _conflict(layer, key, ".".join(parts[: index + 1]))
                node = child
            last = parts[-1]
        if last not in node:
            node[last] = value
        elif is_object(node[last]) and is_object(value):
            _merge_within_layer(node[last], value, layer, key, key)
        else:
            raise _conflict(layer, key, key)
    return out, has_secret


def params_validate(params: Mapping[str, Any], *, layer: str) -> None:
    """Check one layer's params: valid keys, JSON data only, well-formed secrets, no conflicts inside the layer.

    Returns None; raises RenderError naming ``layer`` and the offending key.
    """
    layer_expand(params, layer)
