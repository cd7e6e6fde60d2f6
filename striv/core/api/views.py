"""System endpoints: health, public key, and the catch-all for unknown URLs."""

from __future__ import annotations

import logging
import tomllib
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC
from functools import cache
from importlib import metadata
from typing import Any

from django.conf import settings
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
)
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


class NotFoundView(APIView):
    """Every unknown URL under /api/: a problem document, not Django's HTML page."""

    authentication_classes: list = []
    permission_classes: list = []
    schema = None

    def options(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> None:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")
