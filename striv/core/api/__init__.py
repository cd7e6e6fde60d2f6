"""Shared pieces of the REST API, one module each (import from the modules, not from this package).

- ``base``: what REST_FRAMEWORK in settings names (role permission, strict JSON parser, cursor pagination). DRF
  imports these while it defines APIView, so they must not import DRF's views themselves.
- ``problems``: RFC 9457 problem documents for every error, and the exception handler.
- ``serializers``: strict serializers that reject unknown fields and run ``full_clean()``.
- ``etags``: ETag and If-Match handling (optimistic concurrency).
- ``schema``: the OpenAPI AutoSchema that documents every problem response.
- ``views``: health, public key, state and the catch-all for unknown URLs.
"""
