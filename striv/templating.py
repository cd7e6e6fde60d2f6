"""Render job specs: layered params merged and fed to an execution's jsonnet template.

A job's params come in layers, lowest first: the execution's ``default_params`` (``execution:<key>``), the job's
dimension values ordered by dimension priority then dimension key (``dimension:<dim>=<value>``), and the job's own
params (``job``). A higher layer wins; objects deep-merge, scalars and arrays replace. A top-level key may be dotted
(``resources.cpu``), which means the nested object ``{"resources": {"cpu": ...}}``.

The template sees the merged params as the variable ``params`` and must evaluate to a JSON object: the spec handed to
the orchestrator. Secret params (``{"_striv_type": "secret", "encrypted": "..."}``) are shown as ``"<redacted>"`` in
preview mode and decrypted in push mode.

This module is pure: no Django, no I/O. Every failure is a ``RenderError`` naming the layer and param, or the
template line and column.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

# The Go runtime in _gojsonnet reads GOGC only from the environment the process started with: setting os.environ has
# no effect. With GOGC=400 there, bulk renders spend about a fifth less time evaluating templates.
import _gojsonnet

logger = logging.getLogger(__name__)

Mode = Literal["preview", "push"]
Decrypt = Callable[[str], str]

PARAM_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
LAYER_JOB = "job"
SECRET_TYPE_KEY = "_striv_type"
SECRET_TYPE = "secret"
REDACTED = "<redacted>"

# Jobs per jsonnet evaluation in job_specs_render. Batching spreads the fixed cost of an evaluation and halves the
# cost per job; about a hundred measured fastest, and a failing chunk stays cheap to bisect.
BATCH_CHUNK_SIZE = 100
# Below this size a failing chunk is rendered job by job instead of being split further.
_BISECT_MIN = 8
# Evaluations release the GIL, so with two usable cores two chunks evaluate at once. On one core threads only add
# switching, and one worker alone gains nothing: handing the GIL back and forth costs what overlapping saves.
_MAX_WORKERS = 2


def _usable_cores() -> int:
    # Checked per call: the process may be pinned to fewer cores than the machine has.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_PARAMS_VAR = "__striv_params"
_BATCH_VAR = "__striv_batch"
# Kept on the template's first line so that jsonnet's line numbers are the template's own; columns on line 1 are
# shifted back by its length. Params travel as a JSON string read by std.parseJson: several times faster than
# passing them as jsonnet code, which the jsonnet parser would have to read.
_PREFIX = f'local params = std.parseJson(std.extVar("{_PARAMS_VAR}")); '
_CHECK_PREFIX = "local params = {}; "
# The newline before ")" keeps a trailing "//" comment in the template from swallowing the parenthesis.
_BATCH_PREFIX = "local __striv_render(params) = ("
_BATCH_SUFFIX = f'\n); [__striv_render(p) for p in std.parseJson(std.extVar("{_BATCH_VAR}"))]'


class RenderError(Exception):
    """A job cannot be rendered: bad params, an undecryptable secret, or a failing template.

    ``message`` is a full sentence (also ``str(error)``). ``layer`` names the param layer at fault (``job``,
    ``execution:<key>``, ``dimension:<dim>=<value>``) and ``param`` the dotted param path, when the fault is in
    params. ``line`` and ``column`` (1-based) locate a template fault. ``kind`` is one of ``params``, ``secret``,
    ``syntax`` (the template does not compile), ``runtime`` (it fails while evaluating) and ``result`` (it does not
    evaluate to an object).
    """

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        param: str | None = None,
        line: int | None = None,
        column: int | None = None,
        kind: str = "params",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer
        self.param = param
        self.line = line
        self.column = column
        self.kind = kind

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"RenderError({self.message!r}, kind={self.kind!r}, layer={self.layer!r}, param={self.param!r})"

    def __reduce__(self) -> tuple:
        # Keyword-only attributes would be lost by Exception's default pickling.
        return (_render_error_rebuild, (self.message, self.layer, self.param, self.line, self.column, self.kind))

    def copy(self) -> RenderError:
        """Return an equal, independent error (for handing one template fault to many jobs)."""
        return _render_error_rebuild(self.message, self.layer, self.param, self.line, self.column, self.kind)


def _render_error_rebuild(
    message: str, layer: str | None, param: str | None, line: int | None, column: int | None, kind: str
) -> RenderError:
    return RenderError(message, layer=layer, param=param, line=line, column=column, kind=kind)


@dataclass(frozen=True)
class Layer:
    """One layer of params: its name (see ``layer_name_*``) and its params as written (dotted keys allowed)."""

    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Rendered:
    """A rendered job.

    ``spec`` is the template's result (with secrets in cleartext in push mode). ``params`` are the effective params
    with secrets always shown as ``"<redacted>"``, so they can be displayed or stored. ``provenance`` maps each leaf
    param path (``resources.cpu``; arrays and secrets are leaves) to the name of the layer that set it.
    """

    spec: dict
    params: dict
    provenance: dict[str, str]


def layer_name_execution(key: str) -> str:
    """Return the layer name of an execution's default params: ``execution:<key>``."""
    return f"execution:{key}"


def layer_name_dimension(dim: str, value: str) -> str:
    """Return the layer name of a dimension value's params: ``dimension:<dim>=<value>``."""
    return f"dimension:{dim}={value}"


def dimension_layers(values: Iterable[tuple[str, int, str, Mapping[str, Any]]]) -> list[Layer]:
    """Return layers for ``(dimension key, priority, value key, params)`` tuples, lowest priority first.

    Ties in priority are broken by dimension key so that the order, and thus who wins, never depends on input order.
    """
    ordered = sorted(values, key=lambda item: (item[1], item[0]))
    return [Layer(layer_name_dimension(dim, value), params) for dim, _, value, params in ordered]


# --- params ------------------------------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    """Return True when ``value`` is a secret param object (any object carrying ``_striv_type``)."""
    return isinstance(value, dict) and SECRET_TYPE_KEY in value


def _is_object(value: Any) -> bool:
    """A mergeable object: a dict that is not a secret (secrets are leaves)."""
    return type(value) is dict and SECRET_TYPE_KEY not in value


def _type_name(value: Any) -> str:
    return type(value).__name__


def _secret_check(value: Mapping, layer: str, path: str) -> dict:
    if (
        len(value) == 2
        and value.get(SECRET_TYPE_KEY) == SECRET_TYPE
        and "encrypted" in value
        and isinstance(value["encrypted"], str)
    ):
        return {SECRET_TYPE_KEY: SECRET_TYPE, "encrypted": value["encrypted"]}
    raise RenderError(
        f'param {path} in layer {layer} has "{SECRET_TYPE_KEY}" but is not a valid secret; a secret is exactly '
        f'{{"{SECRET_TYPE_KEY}": "{SECRET_TYPE}", "encrypted": "<string>"}}',
        layer=layer,
        param=path,
    )


def _json_copy(value: Any, layer: str, path: str) -> tuple[Any, bool]:
    """Return a fresh copy of ``value`` as plain JSON data and whether it holds a secret.

    Raises RenderError naming ``layer`` and ``path`` for anything that is not JSON data.
    """
    kind = type(value)
    if kind is str or kind is bool or kind is int or value is None:
        return value, False
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
                    f"param {path} in layer {layer} has the object key {key!r} of type {_type_name(key)}; "
                    "object keys must be strings",
                    layer=layer,
                    param=path,
                )
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
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
        return (bool(value) if isinstance(value, bool) else int(value) if isinstance(value, int) else str(value)), False
    if isinstance(value, float):
        return _json_copy(float(value), layer, path)
    raise RenderError(
        f"param {path} in layer {layer} is a {_type_name(value)}, which is not JSON data "
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
        elif _is_object(dst[name]) and _is_object(value):
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


def _layer_expand(params: Mapping[str, Any], layer: str) -> tuple[dict, bool]:
    """Return one layer's params as fresh nested plain JSON (dotted keys expanded) and whether it holds a secret.

    Raises RenderError naming ``layer`` and the key for a bad key, a non-JSON value or a conflict inside the layer.
    """
    if type(params) is not dict and not isinstance(params, Mapping):
        raise RenderError(f"params of layer {layer} must be an object, got {_type_name(params)}", layer=layer)
    out: dict[str, Any] = {}
    has_secret = False
    for key, raw in params.items():
        parts = _key_parts(key, layer)
        kind = type(raw)
        if kind is str or kind is int or kind is bool or raw is None:
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
                elif not _is_object(child):
                    raise _conflict(layer, key, ".".join(parts[: index + 1]))
                node = child
            last = parts[-1]
        if last not in node:
            node[last] = value
        elif _is_object(node[last]) and _is_object(value):
            _merge_within_layer(node[last], value, layer, key, key)
        else:
            raise _conflict(layer, key, key)
    return out, has_secret


def params_validate(params: Mapping[str, Any], *, layer: str) -> None:
    """Check one layer's params: valid keys, JSON data only, well-formed secrets, no conflicts inside the layer.

    Returns None; raises RenderError naming ``layer`` and the offending key.
    """
    _layer_expand(params, layer)


def _provenance_record(value: dict, prefix: str, layer: str, provenance: dict[str, str]) -> None:
    """Record ``layer`` for every leaf below the object ``value`` (at path ``prefix`` + key)."""
    for key, item in value.items():
        # Empty objects are recorded as leaves so that a param set to {} still shows where it came from.
        if type(item) is dict and item and SECRET_TYPE_KEY not in item:
            _provenance_record(item, f"{prefix}{key}.", layer, provenance)
        else:
            provenance[prefix + key] = layer


def _provenance_drop(provenance: dict[str, str], path: str) -> None:
    below = path + "."
    for key in [key for key in provenance if key == path or key.startswith(below)]:
        del provenance[key]


# Merged params are built without ever changing an object once made: merging a layer copies only the objects on the
# paths it sets and shares everything else with the layers below it. That makes it safe to keep merged prefixes and
# expanded layers in a cache and hand them to many jobs.


def _merge_over(base: dict, src: dict, prefix: str, layer: str, provenance: dict[str, str]) -> dict:
    """Return the expanded layer ``src`` merged over ``base``, recording in ``provenance`` where each leaf came from.

    Neither ``base`` nor ``src`` is changed; the result shares their untouched objects.
    """
    if not src:
        return base
    if not base:
        _provenance_record(src, prefix, layer, provenance)
        return src
    out = base.copy()
    for key, value in src.items():
        old = out.get(key, _MISSING)
        if type(old) is dict and old and SECRET_TYPE_KEY not in old:
            if type(value) is dict and SECRET_TYPE_KEY not in value:
                out[key] = _merge_over(old, value, f"{prefix}{key}.", layer, provenance)
                continue
            # An object replaced by a leaf: its leaves no longer exist.
            _provenance_drop(provenance, prefix + key)
        out[key] = value
        if type(value) is dict and value and SECRET_TYPE_KEY not in value:
            if old is not _MISSING:
                provenance.pop(prefix + key, None)
            _provenance_record(value, f"{prefix}{key}.", layer, provenance)
        else:
            provenance[prefix + key] = layer
    return out


_MISSING = object()


class _Merged:
    """Params merged from a run of layers (lowest first), and the runs one layer longer that extend it."""

    __slots__ = ("params", "provenance", "has_secret", "next")

    def __init__(self, params: dict, provenance: dict[str, str], has_secret: bool) -> None:
        self.params = params
        self.provenance = provenance
        self.has_secret = has_secret
        self.next: dict[tuple[int, str], _Merged] = {}


class _MergeCache:
    """Expanded layers and merged runs of layers, shared by the jobs of one batch render.

    The execution's and dimension values' layers are the same params objects for many jobs, so each is checked and
    expanded once, and each distinct run of them (execution, execution + first dimension, ...) is merged once: only
    a job's last layer, its own params, is merged per job. Layers are keyed by the identity of their params and
    their name; ``expanded`` holds those params, so no identity is reused while the cache lives. Nothing stored is
    changed afterwards.
    """

    def __init__(self) -> None:
        self.expanded: dict[tuple[int, str], tuple[Mapping[str, Any], dict, bool]] = {}
        self.root = _Merged({}, {}, False)

    def merge(self, layers: Sequence[Layer]) -> tuple[dict, dict[str, str], bool]:
        """Return ``(params, provenance, has_secret)`` for ``layers``; raises RenderError as _layer_expand does."""
        if not layers:
            return {}, {}, False
        node = self.root
        for layer in layers[:-1]:
            key = (id(layer.params), layer.name)
            child = node.next.get(key)
            if child is None:
                hit = self.expanded.get(key)
                if hit is None:
                    hit = self.expanded[key] = (layer.params, *_layer_expand(layer.params, layer.name))
                provenance = node.provenance.copy()
                params = _merge_over(node.params, hit[1], "", layer.name, provenance)
                child = node.next[key] = _Merged(params, provenance, node.has_secret or hit[2])
            node = child
        last = layers[-1]
        expanded, found = _layer_expand(last.params, last.name)
        provenance = node.provenance.copy()
        params = _merge_over(node.params, expanded, "", last.name, provenance)
        return params, provenance, node.has_secret or found


def _layers_merge(layers: Sequence[Layer], cache: _MergeCache | None = None) -> tuple[dict, dict[str, str], bool]:
    """Return ``(params, provenance, has_secret)`` for ``layers``; the params share objects with ``cache``."""
    if cache is not None:
        return cache.merge(layers)
    merged: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    has_secret = False
    for layer in layers:
        expanded, found = _layer_expand(layer.params, layer.name)
        has_secret = has_secret or found
        merged = _merge_over(merged, expanded, "", layer.name, provenance)
    return merged, provenance, has_secret


def params_merge(layers: Sequence[Layer]) -> tuple[dict, dict[str, str]]:
    """Merge ``layers`` (lowest first) into effective params.

    Returns ``(params, provenance)``: the params as nested JSON with secrets still as secret objects, and the layer
    name that set each leaf path. Raises RenderError naming the layer and key of invalid params.
    """
    merged, provenance, _ = _layers_merge(layers)
    return merged, provenance


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})

# What json.dumps(value, separators=...) returns, without building an encoder per call.
_json_compact = json.JSONEncoder(separators=(",", ":")).encode
_json_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


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


def _params_top_replace(params: dict, replace: Callable[[dict, str, str], Any]) -> dict:
    return {key: _secrets_replace(value, key, key, replace) for key, value in params.items()}


def _redact(secret: dict, path: str, leaf: str) -> str:
    return REDACTED


def _decrypter(
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
                f"secret param {path} in layer {layer} decrypted to a {_type_name(clear)}, not a string",
                layer=layer,
                param=path,
                kind="secret",
            )
        memo[encrypted] = clear
        return clear

    return replace


@dataclass(slots=True)
class _Prepared:
    """A job's params ready for the template: what is shown, provenance, and the JSON the template sees."""

    shown_params: dict
    provenance: dict[str, str]
    params_json: str


def _prepare(
    layers: Sequence[Layer],
    *,
    mode: Mode,
    decrypt: Decrypt | None,
    cache: _MergeCache | None = None,
    memo: dict[str, str] | None = None,
) -> _Prepared:
    merged, provenance, has_secret = _layers_merge(layers, cache)
    if has_secret:
        shown = _params_top_replace(merged, _redact)
        if mode == "push":
            seen = _params_top_replace(merged, _decrypter(decrypt, provenance, {} if memo is None else memo))
        else:
            seen = shown
    else:
        shown = seen = merged
    return _Prepared(shown, provenance, _json_compact(seen))


# --- template ----------------------------------------------------------------------------------------------------


def _import_refuse(base: str, rel: str) -> tuple[str, bytes]:
    # Templates are stored data: they must not read files from the server. Every import resolves to an expression
    # that fails when used (importstr gets its text). Raising here instead is unsafe: the Go binding garbles the
    # exception text.
    return "<imports are not allowed>", _IMPORT_REFUSED


_IMPORT_REFUSED = b'error "imports are not allowed in templates"'


def _evaluate(snippet: str, filename: str, ext_vars: dict[str, str]) -> str:
    return _gojsonnet.evaluate_snippet(filename, snippet, ext_vars=ext_vars, import_callback=_import_refuse)


def _filename(execution_key: str) -> str:
    return f"execution:{execution_key}"


def _location_re(filename: str) -> re.Pattern[str]:
    name = re.escape(filename)
    # go-jsonnet writes "file:L:C", "file:L:C-C" or "file:(L:C)-(L:C)".
    return re.compile(rf"{name}:(?:\((\d+):(\d+)\)-\(\d+:\d+\)|(\d+):(\d+)(?:-\d+)?)")


def _template_error(text: str, *, execution_key: str, prefix_length: int) -> RenderError:
    """Turn go-jsonnet's error text into a RenderError with the template's own line and column."""
    filename = _filename(execution_key)
    pattern = _location_re(filename)
    runtime = text.startswith("RUNTIME ERROR: ")
    if runtime:
        body, _, trace = text[len("RUNTIME ERROR: ") :].partition("\n\t")
        detail = body.strip()
        match = pattern.search(trace)
    else:
        first_line = text.strip().split("\n", 1)[0]
        match = pattern.match(first_line)
        detail = first_line[match.end() :].strip() if match else first_line
    line = column = None
    if match:
        line = int(match.group(1) or match.group(3))
        column = int(match.group(2) or match.group(4))
        if line == 1:
            column = max(1, column - prefix_length)
    where = f" at line {line}, column {column}" if line is not None else ""
    if runtime:
        message = f"template of execution {execution_key} failed{where}: {detail}"
    else:
        message = f"template of execution {execution_key} has a syntax error{where}: {detail}"
    return RenderError(message, line=line, column=column, kind="runtime" if runtime else "syntax")


_JSON_TYPE_NAMES = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}


def _result_check(spec: Any, execution_key: str) -> dict:
    if type(spec) is dict:
        return spec
    raise RenderError(
        f"template of execution {execution_key} must evaluate to an object, got "
        f"{_JSON_TYPE_NAMES.get(type(spec), _type_name(spec))}",
        kind="result",
    )


def template_check(template: str, *, execution_key: str) -> None:
    """Check that ``template`` compiles, without params.

    Returns None; raises RenderError (kind ``syntax``) with line and column for a syntax error or an unknown
    variable. Errors that depend on params (a missing field, a failed assertion) are not reported here.
    """
    try:
        _evaluate(_CHECK_PREFIX + template, _filename(execution_key), {})
    except RuntimeError as exc:
        error = _template_error(str(exc), execution_key=execution_key, prefix_length=len(_CHECK_PREFIX))
        if error.kind == "syntax":
            raise error from None


def _render_prepared(template: str, prepared: _Prepared, execution_key: str) -> dict:
    try:
        output = _evaluate(_PREFIX + template, _filename(execution_key), {_PARAMS_VAR: prepared.params_json})
    except RuntimeError as exc:
        raise _template_error(str(exc), execution_key=execution_key, prefix_length=len(_PREFIX)) from None
    return _result_check(json.loads(output), execution_key)


def _mode_check(mode: str) -> None:
    if mode not in ("preview", "push"):
        raise ValueError(f"mode must be 'preview' or 'push', not {mode!r}")


def job_spec_render(
    template: str,
    layers: Sequence[Layer],
    *,
    execution_key: str,
    mode: Mode = "preview",
    decrypt: Decrypt | None = None,
) -> Rendered:
    """Render one job: merge ``layers`` (lowest first) and evaluate ``template`` with them as ``params``.

    In ``preview`` mode secrets reach the template as ``"<redacted>"``; in ``push`` mode as ``decrypt(encrypted)``.
    Returns the Rendered spec, effective params (secrets redacted) and provenance. Raises RenderError for invalid
    params, a secret that cannot be decrypted, a template error (with line and column) or a non-object result.
    """
    _mode_check(mode)
    prepared = _prepare(layers, mode=mode, decrypt=decrypt)
    spec = _render_prepared(template, prepared, execution_key)
    return Rendered(spec=spec, params=prepared.shown_params, provenance=prepared.provenance)


def job_specs_render(
    template: str,
    many: Sequence[Sequence[Layer]],
    *,
    execution_key: str,
    mode: Mode = "preview",
    decrypt: Decrypt | None = None,
) -> list[Rendered | RenderError]:
    """Render many jobs of one execution; the result at index i is what ``job_spec_render`` gives for ``many[i]``.

    Returns a list holding a Rendered or the RenderError of each job, so one bad job does not stop the others.
    Jobs are evaluated a chunk at a time in a single jsonnet evaluation; a failing chunk is split until each
    failing job is rendered alone and gets its own error. Layers whose params are the same object for many jobs
    (the execution's, a dimension value's) are checked and expanded once, and the jobs that share their first
    layers share the merge of those. So the results' params share objects with each other: treat them as read-only.
    """
    _mode_check(mode)
    results: list[Rendered | RenderError | None] = [None] * len(many)
    # A template that compiles alone also compiles, with the same meaning, as the body of the batch function;
    # checking first keeps a malformed template from being completed into a valid one by the batch wrapper.
    template_error: RenderError | None = None
    if many:
        try:
            template_check(template, execution_key=execution_key)
        except RenderError as exc:
            template_error = exc
    cache = _MergeCache()
    memo: dict[str, str] = {}
    # Chunks are evaluated by worker threads while this thread prepares the next ones (see _MAX_WORKERS).
    workers = min(_MAX_WORKERS, _usable_cores())
    threaded = workers > 1 and template_error is None and len(many) > BATCH_CHUNK_SIZE
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="striv-render") if threaded else None
    futures: list[Future[None]] = []
    pending: list[tuple[int, _Prepared]] = []

    def flush() -> None:
        if pool is None:
            _chunk_render(template, pending, execution_key, results)
        else:
            futures.append(pool.submit(_chunk_render, template, list(pending), execution_key, results))
        pending.clear()

    try:
        for index, layers in enumerate(many):
            try:
                prepared = _prepare(layers, mode=mode, decrypt=decrypt, cache=cache, memo=memo)
            except RenderError as exc:
                results[index] = exc
                continue
            if template_error is not None:
                results[index] = template_error.copy()
                continue
            pending.append((index, prepared))
            if len(pending) >= BATCH_CHUNK_SIZE:
                flush()
        if pending:
            flush()
        for future in futures:
            future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return results  # type: ignore[return-value]


def _chunk_render(
    template: str,
    chunk: list[tuple[int, _Prepared]],
    execution_key: str,
    results: list[Rendered | RenderError | None],
) -> None:
    if len(chunk) < _BISECT_MIN:
        for index, prepared in chunk:
            try:
                spec = _render_prepared(template, prepared, execution_key)
                results[index] = Rendered(spec=spec, params=prepared.shown_params, provenance=prepared.provenance)
            except RenderError as exc:
                results[index] = exc
        return
    batch_json = "[" + ",".join(prepared.params_json for _, prepared in chunk) + "]"
    try:
        output = _evaluate(_BATCH_PREFIX + template + _BATCH_SUFFIX, _filename(execution_key), {_BATCH_VAR: batch_json})
    except RuntimeError:
        # Some job in the chunk fails; halves that evaluate cleanly keep their speed, the rest narrow down to it.
        logger.debug("execution %s: a chunk of %d jobs failed to render, splitting it", execution_key, len(chunk))
        middle = len(chunk) // 2
        _chunk_render(template, chunk[:middle], execution_key, results)
        _chunk_render(template, chunk[middle:], execution_key, results)
        return
    for (index, prepared), spec in zip(chunk, json.loads(output), strict=True):
        try:
            results[index] = Rendered(
                spec=_result_check(spec, execution_key), params=prepared.shown_params, provenance=prepared.provenance
            )
        except RenderError as exc:
            results[index] = exc


def spec_hash(spec: dict) -> str:
    """Return the sha256 hex digest of ``spec`` as canonical JSON (sorted keys, compact separators)."""
    canonical = _json_canonical(spec)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
