"""System endpoints of the base layer: the public key, striv's version and the catch-all for unknown URLs."""

from __future__ import annotations

import logging
import tomllib
from functools import cache
from importlib import metadata
from typing import Any, NoReturn

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from striv.core import keys
from striv.core.api.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    ProblemSerializer,
)

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

    def options(self, request: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")

    def http_method_not_allowed(self, request: Any, *args: Any, **kwargs: Any) -> NoReturn:
        raise exceptions.NotFound(f"no API endpoint at {request.path}")
