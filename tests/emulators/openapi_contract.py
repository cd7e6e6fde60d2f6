"""Check HTTP exchanges against HashiCorp's Nomad OpenAPI spec (``shared/nomad/openapi.yaml``).

The spec lives next to the repository clone (``../shared/nomad/openapi.yaml``); `available()` says whether it
is there, so tests can skip without it. `load()` returns a cached `Contract`, whose `check()` takes one
exchange (method, path, query, request body, status, response body) and returns a list of problems.

The spec was generated for Nomad ~1.4 and is wrong or silent in places (BEHAVIOUR.md §9). The checks here
correct for that rather than report it:

- ``index`` is read from the query string (the spec calls it a header); ``wait`` is a Go duration.
- ``filter``/``reverse`` (``/allocations``, ``/evaluations``), ``filter``/``meta`` (``/jobs``) and
  ``eval_priority``/``no_shutdown_delay`` (``DELETE /job/:id``) are accepted, as are ``region``/``pretty``
  everywhere. Any other parameter the operation does not list is reported.
- Register, plan and periodic force accept PUT as well as POST.
- Go writes nil slices, maps and pointers as ``null``, so every typed schema also accepts null (except the
  top-level body). Fields the spec lacks (``Periodic.Specs``, ``Job.NodePool``, ``Submission``...) pass,
  since the spec never forbids extra properties.
- Error bodies are plain text with no schema: for non-2xx answers only "the body is not JSON" is checked.
- Paths the spec does not cover (logs, event stream, agent) are skipped: `covers()` tells which.
- ``reverse`` must be exactly ``true`` or ``false``: Nomad compares the literal string, so ``True`` (what
  python-nomad sends for a Python bool) silently means "not reversed".
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

logger = logging.getLogger(__name__)

#: tests/emulators/openapi_contract.py -> <clone> -> <clone's parent>/shared/nomad/openapi.yaml
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared/nomad/openapi.yaml"
_SPEC_URI = "urn:nomad-openapi"
#: accepted on every operation; `index` is a query parameter (the spec says header) and `wait` a Go duration
_GLOBAL_QUERY = {"region": "string", "pretty": "any", "index": "integer", "wait": "duration", "stale": "any"}
_EXTRA_QUERY: dict[tuple[str, str], dict[str, str]] = {
    ("get", "/jobs"): {"filter": "string", "meta": "boolean"},
    ("get", "/allocations"): {"filter": "string", "reverse": "literal-bool"},
    ("get", "/evaluations"): {"filter": "string", "reverse": "literal-bool"},
    ("delete", "/job/{jobName}"): {"eval_priority": "integer", "no_shutdown_delay": "boolean"},
}
_GO_BOOLS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
_GO_DURATION = re.compile(r"^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_MAX_PROBLEMS_PER_BODY = 5


def available() -> bool:
    """Return True when the OpenAPI spec file is present."""
    return SPEC_PATH.is_file()


@functools.cache
def load(path: Path | None = None) -> Contract:
    """Parse the spec once; returns the `Contract`. Raises FileNotFoundError when it is absent."""
    with open(path or SPEC_PATH, encoding="utf-8") as handle:
        return Contract(yaml.safe_load(handle))


def _nullable(node: Any) -> Any:
    """Return a copy of a schema tree in which every ``type: X`` also accepts null (Go's nil)."""
    if isinstance(node, dict):
        out = {key: _nullable(value) for key, value in node.items()}
        if isinstance(node.get("type"), str):
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    return node


def _is_rfc3339(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


@dataclass
class Operation:
    """One spec operation matched to a concrete request path."""

    method: str
    template: str
    spec: dict[str, Any]
    path_params: dict[str, str]


class Contract:
    """The parsed spec with validators; see the module docstring for the rules applied."""

    def __init__(self, spec: Mapping[str, Any]):
        self.spec = spec
        self.paths: dict[str, dict[str, Any]] = spec["paths"]
        self.parameters: dict[str, Any] = spec["components"].get("parameters", {})
        self.responses: dict[str, Any] = spec["components"].get("responses", {})
        self.request_bodies: dict[str, Any] = spec["components"].get("requestBodies", {})
        document = {"components": {"schemas": _nullable(copy.deepcopy(spec["components"]["schemas"]))}}
        self.registry = Registry().with_resource(_SPEC_URI, Resource(contents=document, specification=DRAFT4))
        self.format_checker = jsonschema.FormatChecker(formats=())
        self.format_checker.checks("date-time")(_is_rfc3339)
        # Most specific templates first, so /job/{jobName}/periodic/force wins over /job/{jobName}.
        self.matchers = sorted(
            ((self._template_regex(t), t) for t in self.paths), key=lambda item: -len(re.sub(r"\{[^}]+\}", "", item[1]))
        )

    # path matching ---------------------------------------------------------------------------------------------

    @staticmethod
    def _template_regex(template: str) -> re.Pattern[str]:
        pattern = ""
        for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
            pattern += re.escape(literal)
            if name:
                # job IDs may contain "/" (periodic children); Nomad routes /v1/job/ by suffix
                pattern += f"(?P<{name}>.+)" if name == "jobName" else f"(?P<{name}>[^/]+)"
        return re.compile(f"^{pattern}$")

    def operation(self, method: str, path: str) -> Operation | None:
        """Return the spec operation for a request, or None when the spec does not cover it."""
        relative = path[len("/v1") :] if path.startswith("/v1/") else path
        for regex, template in self.matchers:
            match = regex.match(relative)
            if not match:
                continue
            item = self.paths[template]
            verb = method.lower()
            if verb == "put" and "put" not in item and "post" in item:
                verb = "post"  # Nomad accepts PUT wherever the spec lists POST
            if verb in item:
                return Operation(verb, template, item[verb], match.groupdict())
            return None
        return None

    def covers(self, method: str, path: str) -> bool:
        """Return True when the spec describes this method and path."""
        return self.operation(method, path) is not None

    # checks ----------------------------------------------------------------------------------------------------

    def check(self, exchange: Iterable[Any]) -> list[str]:
        """Check one ``(method, path, query, body, status, response)`` exchange; returns the problems found.

        2xx exchanges must have a valid request and a response matching the spec's schema; other statuses must
        have a plain-text body. Exchanges the spec does not cover return no problems.
        """
        method, path, query, body, status, response = exchange
        operation = self.operation(method, path)
        if operation is None:
            return []
        where = f"{method} {path} -> {status}"
        if not 200 <= status < 300:
            if isinstance(response, (dict, list)):
                return [f"{where}: error body is JSON, Nomad answers errors in plain text"]
            return []
        problems = self.check_request(operation, query, body)
        problems += self.check_response(operation, status, response)
        return [f"{where}: {problem}" for problem in problems]

    def check_request(self, operation: Operation, query: Mapping[str, Any], body: Any) -> list[str]:
        """Return problems with a request's query parameters and JSON body."""
        problems: list[str] = []
        declared: dict[str, str] = {}
        for ref in operation.spec.get("parameters", []):
            parameter = self._deref(ref, self.parameters)
            if parameter["in"] in ("query", "header") and parameter["name"] != "X-Nomad-Token":
                declared[parameter["name"]] = parameter.get("schema", {}).get("type", "string")
        declared.update({name: _GLOBAL_QUERY[name] for name in ("index", "wait") if name in declared})
        allowed = {**_GLOBAL_QUERY, **declared, **_EXTRA_QUERY.get((operation.method, operation.template), {})}
        for name, values in query.items():
            kind = allowed.get(name)
            if kind is None:
                problems.append(
                    f"query parameter {name!r} is not part of {operation.method.upper()} {operation.template}"
                )
                continue
            for value in values if isinstance(values, list) else [values]:
                problem = self._check_query_value(name, str(value), kind)
                if problem:
                    problems.append(problem)
        request_body = operation.spec.get("requestBody")
        if request_body is not None:
            request_body = self._deref(request_body, self.request_bodies)
            if body is None:
                if request_body.get("required"):
                    problems.append("request body is required")
            else:
                schema = request_body.get("content", {}).get("application/json", {}).get("schema")
                if schema is not None:
                    problems += [f"request {p}" for p in self._validate(schema, body)]
        return problems

    @staticmethod
    def _check_query_value(name: str, value: str, kind: str) -> str | None:
        if kind == "integer" and not re.fullmatch(r"-?\d+", value):
            return f"query parameter {name}={value!r} is not an integer"
        if kind == "boolean" and value not in _GO_BOOLS:
            return f"query parameter {name}={value!r} is not a Go boolean"
        if kind == "literal-bool" and value not in ("true", "false"):
            return f"query parameter {name}={value!r}: Nomad only honours the literal 'true'"
        if kind == "duration" and not _GO_DURATION.match(value):
            return f"query parameter {name}={value!r} is not a Go duration"
        return None

    def check_response(self, operation: Operation, status: int, body: Any) -> list[str]:
        """Return problems with a 2xx JSON response body (bodies without a spec schema pass)."""
        responses = operation.spec.get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        if response is None:
            return [f"status {status} is not listed in the spec"]
        response = self._deref(response, self.responses)
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        if body is None:
            return ["response body is null"]
        if isinstance(body, (bytes, str)) and schema.get("type") != "string":
            return ["response body is not JSON"]
        return [f"response {p}" for p in self._validate(schema, body)]

    # helpers ---------------------------------------------------------------------------------------------------

    def _deref(self, node: Mapping[str, Any], table: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        return table[ref.rsplit("/", 1)[-1]] if ref else node

    def _validate(self, schema: Mapping[str, Any], instance: Any) -> list[str]:
        resolved = self._retarget(copy.deepcopy(schema))
        validator = jsonschema.Draft4Validator(resolved, registry=self.registry, format_checker=self.format_checker)
        problems = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            problems.append(f"{error.json_path}: {error.message[:200]}")
            if len(problems) >= _MAX_PROBLEMS_PER_BODY:
                break
        return problems

    def _retarget(self, node: Any) -> Any:
        """Point ``#/components/schemas/X`` references at the registered (nullable) copy of the spec."""
        if isinstance(node, dict):
            return {
                key: (
                    f"{_SPEC_URI}{value}"
                    if key == "$ref" and isinstance(value, str) and value.startswith("#")
                    else self._retarget(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [self._retarget(item) for item in node]
        return node
