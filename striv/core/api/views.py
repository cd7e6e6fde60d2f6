"""System endpoints: health, public key, state (dump and load), and the catch-all for unknown URLs."""

from __future__ import annotations

import logging
import re
import tomllib
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC
from functools import cache
from importlib import metadata
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from striv.core import keys, roles
from striv.core.api.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    ProblemSerializer,
    django_validation_errors,
    field_error,
    invalid,
)
from striv.core.api.serializers import json_text_problem
from striv.core.state import StateError, state_after_load, state_dump, state_load, state_parse
from striv.drivers import driver_class
from striv.executions.models import Execution
from striv.jobs.services import execution_driver

logger = logging.getLogger(__name__)


@cache
def striv_version() -> str:
    """striv's version: from the installed package metadata, else from pyproject.toml, else ``unknown``."""
    try:
        return metadata.version("striv")
    except metadata.PackageNotFoundError:
        pass
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


HEALTH_TIMEOUT = 2.0


class ClusterHealthSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The execution key.")
    driver = serializers.CharField()
    ok = serializers.BooleanField(help_text="Whether the execution's cluster answered within two seconds.")
    detail = serializers.CharField(required=False, help_text="The cluster's answer or error (authenticated only).")


class DatabaseHealthSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Always true in a 200 answer; without a database the answer is 503.")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded"], help_text="ok: the database and every cluster answer; degraded: a cluster does not."
    )
    version = serializers.CharField(help_text="striv's version.")
    time = serializers.DateTimeField(help_text="The server's clock (UTC).")
    database = DatabaseHealthSerializer()
    executions = ClusterHealthSerializer(many=True)


def _clusters_health(executions: list[Any]) -> dict[str, tuple[bool, str]]:
    """Ask each distinct cluster once, all at a time, waiting at most HEALTH_TIMEOUT; returns {key: (ok, detail)}."""
    groups: dict[tuple, list[str]] = {}
    results: dict[str, tuple[bool, str]] = {}
    sample: dict[tuple, Any] = {}
    for execution in executions:
        try:
            cluster = (execution.driver, driver_class(execution.driver).cluster_key(execution.driver_config))
        except Exception as exc:  # noqa: BLE001 - a broken config is reported, not raised
            results[execution.key] = (False, f"invalid driver config: {exc}")
            continue
        groups.setdefault(cluster, []).append(execution.key)
        sample.setdefault(cluster, execution)
    if not groups:
        return results

    def ask(execution: Any) -> tuple[bool, str]:
        try:
            health = execution_driver(execution).health()
        except Exception as exc:  # noqa: BLE001 - health never raises; a driver that does is unhealthy
            return False, str(exc)
        return health.ok, health.detail

    # Not a "with" block: leaving it would wait for a hung cluster. Late threads end on the driver's own timeout.
    pool = ThreadPoolExecutor(max_workers=min(8, len(groups)), thread_name_prefix="striv-health")
    futures = {pool.submit(ask, sample[cluster]): cluster for cluster in groups}
    done, _ = wait(futures, timeout=HEALTH_TIMEOUT)
    pool.shutdown(wait=False, cancel_futures=True)
    for future, cluster in futures.items():
        answer = future.result() if future in done else (False, f"no answer within {HEALTH_TIMEOUT:g} s")
        for key in groups[cluster]:
            results[key] = answer
    return results


class HealthView(APIView):
    """Whether striv works: version, database, server time, and per execution whether its cluster answers."""

    required_roles = {"get": None}

    def perform_authentication(self, request: Any) -> None:
        # Health answers everyone; a bad token only means no details, not 401.
        try:
            request.user  # noqa: B018 - evaluating it authenticates
        except exceptions.APIException:
            pass

    @extend_schema(
        operation_id="health",
        summary="Health check (no authentication)",
        tags=["system"],
        responses={
            200: HealthSerializer,
            (503, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The database does not answer."
            ),
        },
        description=(
            "200 while the database answers, even when a cluster does not (status `degraded`); 503 without a "
            "database. Cluster details are shown to authenticated users only."
        ),
    )
    def get(self, request: Any) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            executions = list(Execution.objects.only("key", "driver", "driver_config").order_by("key"))
        except DatabaseError as exc:
            logger.error("health: database unavailable: %s", exc)
            raise Problem(503, "the database does not answer", slug="database-unavailable") from None
        answers = _clusters_health(executions)
        detailed = roles.can_view(request.user)
        items = []
        for execution in executions:
            ok, detail = answers[execution.key]
            item = {"key": execution.key, "driver": execution.driver, "ok": ok}
            if detailed:
                item["detail"] = detail
            items.append(item)
        return Response(
            {
                "status": "ok" if all(item["ok"] for item in items) else "degraded",
                "version": striv_version(),
                "time": timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "database": {"ok": True},
                "executions": items,
            }
        )


class PublicKeySerializer(serializers.Serializer):
    public_key = serializers.CharField(help_text="The RSA public key, PEM (SubjectPublicKeyInfo).")
    secret_format = serializers.CharField(help_text="How to build a secret value with it.")


class PublicKeyView(APIView):
    """The public half of striv's key, for encrypting secret params before sending them."""

    problem_statuses = {"get": (404,)}

    @extend_schema(
        operation_id="public_key",
        summary="Public key for client-side secret encryption",
        tags=["system"],
        responses={
            200: PublicKeySerializer,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Secrets are not enabled: no encryption key is configured."
            ),
        },
    )
    def get(self, request: Any) -> Response:
        try:
            pem = keys.public_key_pem()
        except keys.NoEncryptionKey as exc:
            raise Problem(404, str(exc), slug="no-encryption-key", title="Secrets are not enabled") from None
        return Response(
            {
                "public_key": pem,
                "secret_format": (
                    '{"_striv_type": "secret", "encrypted": E}; E = base64(json({"key": base64(RSA-OAEP-SHA256('
                    'fernet_key)), "payload": fernet_token(cleartext)})). See docs/api.md or manage.py encrypt-value.'
                ),
            }
        )


class StateQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=False, help_text="true: check and report what would change, saving nothing (as load-state --dry-run)."
    )


class StateReportSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    changed = serializers.BooleanField(help_text="Whether any execution, dimension or value changed.")
    executions_added = serializers.ListField(child=serializers.CharField())
    executions_changed = serializers.ListField(child=serializers.CharField())
    executions_removed = serializers.ListField(child=serializers.CharField())
    dimensions_added = serializers.ListField(child=serializers.CharField())
    dimensions_changed = serializers.ListField(child=serializers.CharField())
    dimensions_removed = serializers.ListField(child=serializers.CharField())
    values_added = serializers.ListField(child=serializers.CharField())
    values_changed = serializers.ListField(child=serializers.CharField())
    values_removed = serializers.ListField(child=serializers.CharField())
    jobs_rendered = serializers.IntegerField()
    jobs_changed = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    lines = serializers.ListField(child=serializers.CharField(), help_text="The report load-state prints.")


_PROBLEM_PATH = re.compile(r"^(?P<path>[^\s:]+(?:\.[^\s:]+)*|\(top level\)): (?P<detail>.+)$", re.DOTALL)


def state_problem(exc: Any, *, status: int) -> Problem:
    """A problem for a StateError: parse problems become field errors named by their path in the document."""
    errors = []
    for text in exc.problems:
        match = _PROBLEM_PATH.match(text) if status == 400 else None
        if match and match["path"] != "(top level)":
            errors.append(field_error(match["path"], match["detail"]))
        else:
            errors.append(field_error(None, text))
    slug, title = ("invalid-state", "Invalid state") if status == 400 else ("state-refused", "State refused")
    return Problem(status, exc.summary, slug=slug, title=title, errors=errors)


class StateView(APIView):
    """Executions and dimensions as one document, in the state format (docs/state-format.md). Admin only."""

    required_roles = {"get": roles.ADMIN, "post": roles.ADMIN}
    problem_statuses = {"post": (409,)}

    @extend_schema(
        operation_id="state_dump",
        summary="Dump the state (as manage.py dump-state)",
        tags=["system"],
        responses={200: {"type": "object", "additionalProperties": True}},
    )
    def get(self, request: Any) -> Response:
        return Response(state_dump())

    @extend_schema(
        operation_id="state_load",
        summary="Load a state document (as manage.py load-state)",
        description=(
            "The body is the evaluated state (JSON; evaluate jsonnet first, e.g. with `jsonnet state.jsonnet`). "
            "Executions and dimensions present are created or updated, absent ones deleted, in one transaction. "
            "Refused (409) when a removed item is still used by jobs or a job would no longer render; 400 when the "
            "document is malformed. With dry_run=true the same checks and report happen and nothing is saved."
        ),
        tags=["system"],
        parameters=[StateQuerySerializer],
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={200: StateReportSerializer},
    )
    def post(self, request: Any) -> Response:
        query = StateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        dry_run = query.validated_data["dry_run"]
        if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
            raise invalid([field_error(None, "send the state document as the JSON body", code="required")])
        problem = json_text_problem(request.data)
        if problem:
            raise invalid([field_error(None, problem, code="invalid_characters")])
        try:
            state = state_parse(request.data, source="request body")
        except StateError as exc:
            raise state_problem(exc, status=400) from None
        try:
            diff = state_load(state=state, dry_run=dry_run)
        except StateError as exc:
            raise state_problem(exc, status=409) from None
        except DjangoValidationError as exc:
            raise invalid(django_validation_errors(exc)) from None
        lines = diff.lines() + state_after_load(diff)
        return Response(
            {
                "dry_run": diff.dry_run,
                "changed": diff.changed,
                **{
                    name: getattr(diff, name)
                    for name in (
                        "executions_added",
                        "executions_changed",
                        "executions_removed",
                        "dimensions_added",
                        "dimensions_changed",
                        "dimensions_removed",
                        "values_added",
                        "values_changed",
                        "values_removed",
                        "jobs_rendered",
                    )
                },  # fmt: skip
                "jobs_changed": [{"id": job_id, "name": name} for job_id, name in diff.jobs_changed],
                "lines": lines,
            }
        )


class NotFoundView(APIView):
    """Every unknown URL under /api/: a problem document, not Django's HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    schema = None

    def options(self, request: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")
