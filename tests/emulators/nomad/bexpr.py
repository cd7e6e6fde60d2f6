"""The go-bexpr grammar Nomad's ``filter=`` understands (go-bexpr v0.1.12-v0.1.14, Nomad 1.6-1.11).

There is no list literal: ``Sel in ["a", "b"]`` is a parse error, as is anything else the grammar lacks (numeric
``<``/``>``); ``in`` is only ``"value" in Selector``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.emulators.nomad.helpers import go_parse_bool


class BexprSyntaxError(ValueError):
    """The filter expression does not parse."""


class BexprEvalError(ValueError):
    """The filter expression names a field the evaluated object does not have."""


_MISSING = object()
_BEXPR_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<op>==|!=)
    | (?P<lparen>\() | (?P<rparen>\))
    | (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?![A-Za-z0-9_]))
    | (?P<ident>[A-Za-z][A-Za-z0-9_/]*(?:\.[A-Za-z0-9_][A-Za-z0-9_/]*|\["(?:[^"\\]|\\.)*"\])*)
    )""",
    re.X,
)


def _bexpr_tokens(expr: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        match = _BEXPR_TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            pos += len(expr[pos:]) - len(expr[pos:].lstrip())  # pigeon reports where the failing token starts
            raise BexprSyntaxError(f"1:{pos + 1} ({pos}): no match found, expected: {expr[pos : pos + 10]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _selector_path(text: str) -> list[str]:
    """Split ``Meta.owner`` / ``Meta["a.b"]`` / ``TaskStates.run.State`` into path parts."""
    parts = []
    for match in re.finditer(r'\["((?:[^"\\]|\\.)*)"\]|([^.\[]+)', text):
        parts.append(json.loads(f'"{match.group(1)}"') if match.group(1) is not None else match.group(2))
    return parts


class _BexprParser:
    """Recursive-descent parser producing a predicate ``f(resolve) -> bool``.

    ``resolve(path)`` returns the value at a selector path, `_MISSING` for an absent map key, or raises
    BexprEvalError for an unknown struct field.
    """

    def __init__(self, expr: str):
        self.tokens = _bexpr_tokens(expr)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise BexprSyntaxError("unexpected end of expression")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token != ("ident", word):
                return False
        self.pos += len(words)
        return True

    def parse(self) -> Callable[[Callable[[list[str]], Any]], bool]:
        if not self.tokens:
            raise BexprSyntaxError("empty filter expression")
        node = self.parse_or()
        if self.peek() is not None:
            raise BexprSyntaxError(f"unexpected {self.peek()[1]!r}")
        return node

    def parse_or(self):
        left = self.parse_and()
        while self.keyword("or"):
            right = self.parse_and()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def parse_and(self):
        left = self.parse_not()
        while self.keyword("and"):
            right = self.parse_not()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def parse_not(self):
        if self.keyword("not"):
            inner = self.parse_not()
            return lambda r: not inner(r)
        if self.peek() and self.peek()[0] == "lparen":
            self.take()
            inner = self.parse_or()
            if self.take()[0] != "rparen":
                raise BexprSyntaxError("Unmatched parentheses")
            return inner
        return self.parse_match()

    def parse_value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return json.loads(text) if text.startswith('"') else text[1:-1]
        if kind in ("number", "ident"):
            return text
        raise BexprSyntaxError(f"unexpected {text!r}")

    def parse_match(self):
        start = self.peek()
        if start is None:
            raise BexprSyntaxError("unexpected end of expression")
        if start[0] in ("string", "number"):  # "value" in Selector
            value = self.parse_value()
            negate = self.keyword("not")
            if not self.keyword("in"):
                raise BexprSyntaxError("expected in")
            kind, text = self.take()
            if kind != "ident":
                raise BexprSyntaxError("Invalid selector")
            return _bexpr_contains(_selector_path(text), value, negate)
        kind, text = self.take()
        if kind != "ident":
            raise BexprSyntaxError(f"unexpected {text!r}")
        path = _selector_path(text)
        token = self.peek()
        if token and token[0] == "op":
            self.take()
            return _bexpr_equal(path, self.parse_value(), token[1] == "!=")
        if self.keyword("is", "empty"):
            return _bexpr_empty(path, False)
        if self.keyword("is", "not", "empty"):
            return _bexpr_empty(path, True)
        for words, op in (
            (("matches",), "matches"),
            (("not", "matches"), "not matches"),
            (("contains",), "contains"),
            (("not", "contains"), "not contains"),
            (("in",), "in"),
            (("not", "in"), "not in"),
        ):
            if self.keyword(*words):
                value = self.parse_value()
                if op.endswith("matches"):
                    try:
                        pattern = re.compile(str(value))
                    except re.error as exc:
                        raise BexprSyntaxError(f"Invalid regular expression: {exc}") from exc
                    return _bexpr_matches(path, pattern, op.startswith("not"))
                if op.endswith("contains"):
                    return _bexpr_contains(path, value, op.startswith("not"))
                # bare-word value in Selector: go-bexpr reads the left side as a raw value
                return _bexpr_contains(_selector_path(str(value)), text, op.startswith("not"))
        raise BexprSyntaxError(f"expected an operator after {text!r}")


def _coerce_equal(actual: Any, expected: Any) -> bool:
    if actual is _MISSING or actual is None:
        return expected == "" if isinstance(expected, str) else False
    if isinstance(actual, bool):
        try:
            return actual == go_parse_bool(str(expected))
        except ValueError:
            return False
    if isinstance(actual, (int, float)):
        try:
            return float(actual) == float(expected)
        except ValueError:
            return False
    return str(actual) == str(expected)


def _bexpr_equal(path, value, negate):
    return lambda resolve: _coerce_equal(resolve(path), value) != negate


def _bexpr_matches(path, pattern, negate):
    def check(resolve):
        actual = resolve(path)
        found = isinstance(actual, str) and pattern.search(actual) is not None
        return found != negate

    return check


def _bexpr_contains(path, value, negate):
    def check(resolve):
        actual = resolve(path)
        if isinstance(actual, str):
            found = str(value) in actual
        elif isinstance(actual, Mapping):
            found = str(value) in actual
        elif isinstance(actual, (list, tuple)):
            found = any(_coerce_equal(item, value) for item in actual)
        else:
            found = False
        return found != negate

    return check


def _bexpr_empty(path, negate):
    def check(resolve):
        actual = resolve(path)
        empty = actual is None or actual is _MISSING or (hasattr(actual, "__len__") and len(actual) == 0)
        return empty != negate

    return check


def bexpr_compile(expr: str) -> Callable[[Callable[[list[str]], Any]], bool]:
    """Compile a go-bexpr filter; returns ``predicate(resolve)``, raises BexprSyntaxError."""
    return _BexprParser(expr).parse()


def resolve_in(document: Mapping[str, Any], path: list[str]) -> Any:
    """Walk `path` through a rendered JSON object the way go-bexpr walks a Go struct.

    Returns the value, or `_MISSING` for a part absent below the top level (a missing map key never matches);
    raises BexprEvalError for a top-level field the object does not have, as go-bexpr does for struct fields.
    """
    current: Any = document
    for depth, part in enumerate(path):
        if isinstance(current, Mapping):
            if part in current:
                current = current[part]
                continue
            if depth == 0:
                pointer = "/" + "/".join(path)
                raise BexprEvalError(
                    f"error finding value in datum: {pointer} at part {depth}: couldn't find key: "
                    f'struct field with name "{part}"'
                )
            return _MISSING
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
            continue
        return _MISSING
    return current
