"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every error has ``type``, ``title``, ``status`` and ``detail``; invalid input adds ``errors``, one entry per field,
naming the field and, for render errors, the param layer, param path and template position.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from striv import templating

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:striv:problem:"


def field_error(field: str | None, detail: str, *, code: str = "invalid", **extra: Any) -> dict[str, Any]:
    """One entry of a problem's ``errors``: the field at fault (None for the request as a whole) and what is wrong.

    ``extra`` adds ``layer``, ``param``, ``line``, ``column`` or ``kind`` when known; None values are left out.
    """
    error = {"field": field, "detail": detail, "code": code}
    error.update({key: value for key, value in extra.items() if value is not None})
    return error


class Problem(exceptions.APIException):
    """An API error answered as a problem document.

    ``slug`` becomes the type URI ``urn:striv:problem:<slug>`` (None: ``about:blank``); ``errors`` lists field errors
    (see ``field_error``); ``headers`` are added to the response (an ETag on 412, Retry-After on 503).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail)
        self.status_code = status
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors or []
        self.headers = dict(headers or {})


def invalid(errors: list[dict[str, Any]], detail: str | None = None) -> Problem:
    """A 400 problem for invalid input; ``detail`` defaults to a summary of the first error."""
    if detail is None:
        first = errors[0] if errors else {"field": None, "detail": "invalid request"}
        where = f"{first['field']}: " if first.get("field") else ""
        detail = f"{where}{first['detail']}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
    return Problem(400, detail, slug="invalid", title="Invalid request", errors=errors)


def render_error_field(error: templating.RenderError, *, params_field: str = "params") -> dict[str, Any]:
    """The field error for a render error: the request field its layer comes from, plus layer/param/position.

    Job params map to ``params``, an execution's defaults and template to ``execution``, a dimension value's params
    to ``dimensions.<dim>``; a rendered spec that the driver refuses has no field, only ``param`` (the spec path).
    """
    layer = error.layer if isinstance(error.layer, templating.LayerName) else None
    field: str | None
    if layer is not None and layer.kind == "job":
        field = params_field
    elif layer is not None and layer.kind == "execution":
        field = "execution"
    elif layer is not None and layer.kind == "dimension":
        field = f"dimensions.{layer.key}"
    elif error.in_template:
        field = "execution"  # the execution's template
    else:
        field = None
    return field_error(
        field,
        error.message,
        code="render",
        kind=error.kind,
        layer=error.layer,
        param=error.param,
        line=error.line,
        column=error.column,
    )


def django_validation_errors(
    exc: DjangoValidationError, *, field_names: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Field errors for a Django ValidationError raised by a model's full_clean() or a service.

    ``field_names`` renames model fields to API fields (``values`` -> ``dimensions``). Render errors are not
    ValidationErrors of this kind: a job service raises JobRenderError, which the API maps with
    ``render_error_field``.
    """
    names = dict(field_names or {})
    errors = []
    if hasattr(exc, "error_dict"):
        for name, items in exc.error_dict.items():
            field = None if name in ("__all__", "non_field_errors") else names.get(name, name)
            for item in items:
                for message in item.messages:
                    errors.append(field_error(field, message, code=item.code or "invalid"))
    else:
        for item in exc.error_list:
            for message in item.messages:
                errors.append(field_error(None, message, code=item.code or "invalid"))
    return errors


def _flatten(detail: Any, path: str | None) -> Iterable[dict[str, Any]]:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            key = str(key)
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                yield from _flatten(value, path)
            else:
                yield from _flatten(value, f"{path}.{key}" if path else key)
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            # Lists of messages belong to the field itself; lists of objects (many=True) are indexed.
            yield from _flatten(value, f"{path}[{index}]" if isinstance(value, Mapping) and path else path)
    else:
        yield field_error(path, str(detail), code=getattr(detail, "code", None) or "invalid")


def problem_document(exc: exceptions.APIException, status: int) -> dict[str, Any]:
    """The problem document (a dict) for an APIException."""
    if isinstance(exc, Problem):
        document = {
            "type": PROBLEM_TYPE_PREFIX + exc.slug if exc.slug else "about:blank",
            "title": exc.title,
            "status": status,
            "detail": str(exc.detail),
        }
        if exc.errors:
            document["errors"] = exc.errors
        return document
    if isinstance(exc, exceptions.ValidationError):
        errors = list(_flatten(exc.detail, None))
        problem = invalid(errors)
        return problem_document(problem, 400)
    detail: Any = exc.detail
    if isinstance(detail, list | dict):
        detail = "; ".join(e["detail"] for e in _flatten(detail, None))
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": str(detail)}


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler answering every error as ``application/problem+json``.

    Unexpected exceptions are logged and answered 500 with a generic detail (with DEBUG on they propagate, so the
    debug page shows them).
    """
    if isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "The request was refused as suspicious.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        if settings.DEBUG:
            return None
        view = context.get("view")
        logger.exception("unexpected error in %s", type(view).__name__ if view else "the API")
        set_rollback()
        exc = Problem(500, "An unexpected error occurred; it was logged.")
        response = Response(status=500)
    document = problem_document(exc, response.status_code)  # type: ignore[arg-type]  # DRF answers APIExceptions only
    response.data = document
    response.content_type = PROBLEM_CONTENT_TYPE
    request = context.get("request")
    if request is not None:
        # Problems are JSON whatever the view renders otherwise (the schema's YAML, Swagger's HTML) and whatever
        # the client accepts (a 406 is a problem too); DRF renders with the request's renderer.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    for name, value in getattr(exc, "headers", {}).items():
        response[name] = value
    return response


class ProblemFieldErrorSerializer(serializers.Serializer):
    """Schema of one field error (documentation only)."""

    field = serializers.CharField(
        allow_null=True, help_text="The request field at fault (dotted for nested ones); null for the whole request."
    )
    detail = serializers.CharField(help_text="What is wrong, as a sentence.")
    code = serializers.CharField(help_text="A short machine-readable reason, e.g. required, invalid, render.")
    kind = serializers.CharField(
        required=False, help_text="For render errors: params, secret, syntax, runtime, result or spec."
    )
    layer = serializers.CharField(
        required=False, help_text="For render errors: the param layer, e.g. job, execution:<key>, dimension:<d>=<v>."
    )
    param = serializers.CharField(required=False, help_text="For render errors: the dotted param (or spec) path.")
    line = serializers.IntegerField(required=False, help_text="For template errors: the template line (1-based).")
    column = serializers.IntegerField(required=False, help_text="For template errors: the template column.")
    index = serializers.IntegerField(
        required=False, help_text="For bulk requests: the position (0-based) of the item at fault in the list."
    )


class ProblemSerializer(serializers.Serializer):
    """Schema of a problem document, RFC 9457 (documentation only)."""

    type = serializers.CharField(help_text="about:blank, or urn:striv:problem:<slug> for striv-specific problems.")
    title = serializers.CharField(help_text="A short summary of the problem type.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(help_text="An explanation of this occurrence.")
    errors = ProblemFieldErrorSerializer(many=True, required=False, help_text="Field-level errors of invalid input.")  # type: ignore[assignment]
