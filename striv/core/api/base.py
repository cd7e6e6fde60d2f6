"""The classes settings.REST_FRAMEWORK names: role permission, strict JSON parser, cursor pagination.

DRF imports them while defining APIView, so this module must not import rest_framework.views (directly or through
drf_spectacular or striv.core.api.problems).
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination, parsers, permissions

from striv.core import jsondepth, roles

_ROLE_CHECKS = {roles.VIEWER: roles.can_view, roles.OPERATOR: roles.can_operate, roles.ADMIN: roles.can_admin}


class RolePermission(permissions.BasePermission):
    """Role-based access: reads need ``viewer``, writes ``operator``; a view may demand more per action.

    A view sets ``required_roles = {"action_or_method": role}`` (keys are viewset actions or lower-case methods);
    anything not listed needs ``viewer`` for safe methods and ``operator`` otherwise.
    """

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        role = required_role(view, request.method)
        if role is None:
            return True
        if not request.user or not request.user.is_authenticated:
            return False
        return _ROLE_CHECKS[role](request.user)


def required_role(view: Any, method: str) -> str | None:
    """The role ``view`` demands for ``method`` (None: no authentication needed)."""
    overrides = getattr(view, "required_roles", {})
    action = getattr(view, "action", None)
    for key in (action, method.lower()):
        if key and key in overrides:
            return overrides[key]
    return roles.VIEWER if method in permissions.SAFE_METHODS else roles.OPERATOR


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"{text} is not valid JSON")


class StrictJSONParser(parsers.JSONParser):
    """JSON bodies only, refusing NaN, Infinity and numbers too large for a float (databases cannot store them), and
    bodies nested deeper than ``jsondepth.MAX_DEPTH`` (naming the path where they get too deep)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            data, path = None, jsondepth.too_deep_text(text) or "(the body)"
        else:
            path = jsondepth.too_deep(data)
        if path is not None:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {jsondepth.MAX_DEPTH} levels at {path}"
            ) from None
        return data


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination with ``limit`` (default 50, at most 500); ``next``/``previous`` are opaque links."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    ordering: tuple[str, ...] = ("-created", "-id")

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            # A forged cursor whose position does not fit the ordering field (a bad date, a NUL character).
            raise exceptions.NotFound(self.invalid_cursor_message) from None


def integer_lookup(value: Any) -> int:
    """Parse an integer primary key from a URL; raises NotFound for anything a BigAutoField cannot hold."""
    try:
        number = int(str(value))
    except ValueError:
        raise exceptions.NotFound() from None
    if not 0 < number < 2**63:
        raise exceptions.NotFound()
    return number
