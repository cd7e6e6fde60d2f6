"""Evaluating a job template with go-jsonnet, and turning its errors into RenderErrors with the template's own
line and column.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The Go runtime of the workers reads GOGC only from the environment they start with (the server's): with GOGC=400
# there, bulk renders spend about a fifth less time evaluating templates.
from striv.templating import sandbox
from striv.templating.errors import RenderError
from striv.templating.params import type_name

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


def _evaluate(snippet: str, filename: str, ext_vars: dict[str, str], *, jobs: int = 1) -> str:
    # In a worker process, under the evaluation limits (see sandbox). Imports are refused there.
    return sandbox.pool().evaluate(snippet, filename, ext_vars, jobs=jobs)


def _limit_error(exc: sandbox.LimitExceeded, execution_key: str) -> RenderError:
    return RenderError(f"template of execution {execution_key} {exc.message}", kind="limit")


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


def result_check(spec: Any, execution_key: str) -> dict:
    if type(spec) is dict:
        return spec
    raise RenderError(
        f"template of execution {execution_key} must evaluate to an object, got "
        f"{_JSON_TYPE_NAMES.get(type(spec), type_name(spec))}",
        kind="result",
    )


def template_check(template: str, *, execution_key: str) -> None:
    """Check that ``template`` compiles, without params.

    Returns None; raises RenderError (kind ``syntax``) with line and column for a syntax error or an unknown
    variable. Errors that depend on params (a missing field, a failed assertion) are not reported here.
    """
    try:
        _evaluate(_CHECK_PREFIX + template, _filename(execution_key), {})
    except sandbox.LimitExceeded:
        return  # it compiled: the evaluation itself is what runs long
    except RuntimeError as exc:
        error = _template_error(str(exc), execution_key=execution_key, prefix_length=len(_CHECK_PREFIX))
        if error.kind == "syntax":
            raise error from None


def evaluate(template: str, params_json: str, execution_key: str) -> dict:
    """Evaluate ``template`` with ``params_json`` (JSON text) as ``params``; returns the spec object.

    Raises RenderError for a template error (with line and column), a result that is not an object, or an
    evaluation past a limit (kind ``limit``, naming it).
    """
    try:
        output = _evaluate(_PREFIX + template, _filename(execution_key), {_PARAMS_VAR: params_json})
    except sandbox.LimitExceeded as exc:
        raise _limit_error(exc, execution_key) from None
    except RuntimeError as exc:
        raise _template_error(str(exc), execution_key=execution_key, prefix_length=len(_PREFIX)) from None
    return result_check(json.loads(output), execution_key)


def evaluate_batch(template: str, params_json: list[str], execution_key: str) -> list[Any]:
    """Evaluate ``template`` once for many jobs' params (JSON texts); returns their results, unchecked.

    Raises RuntimeError when any job of the batch fails (the caller narrows it down), sandbox.LimitExceeded when
    the batch passes a limit (the output limit is per job).
    """
    batch_json = "[" + ",".join(params_json) + "]"
    output = _evaluate(
        _BATCH_PREFIX + template + _BATCH_SUFFIX,
        _filename(execution_key),
        {_BATCH_VAR: batch_json},
        jobs=len(params_json),
    )
    return json.loads(output)
