"""HTTP to Rhythm and to Mesos, with their answers turned into DriverErrors that say whether a retry may help.

Rhythm's error bodies are ``{"Errors": [...]}`` whatever the Content-Type says (text/plain with an explicit
status); a write succeeded only on 204, and a 200 to a write is a validation failure carrying ``Errors``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests

from striv.drivers.base import DriverError


def rhythm_errors(response: requests.Response) -> str:
    """The ``Errors`` of a Rhythm answer joined, or its text (or status) when it carries none."""
    try:
        errors = json.loads(response.content.decode("utf-8", errors="replace")).get("Errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        return "; ".join(str(error) for error in errors)
    return response.text.strip() or response.reason or f"HTTP {response.status_code}"


class Http:
    """One session for one server: base URL, auth, TLS and timeout; ``what`` names the server in messages."""

    def __init__(self, base: str, *, what: str, auth: Any, headers: dict[str, str], verify: Any, cert: Any,
                 timeout: float) -> None:  # fmt: skip
        self.base = base.rstrip("/")
        self.what = what
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update(headers)
        self.session.verify = verify
        if cert:
            self.session.cert = cert

    def call(self, method: str, path: str, action: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        try:
            return self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise DriverError(f"{self.what} unreachable while trying to {action}: {exc}", retryable=True) from None


def segment(value: str) -> str:
    """One path segment, percent-encoded (``:`` and ``/`` included)."""
    return quote(value, safe="")


class Rhythm(Http):
    def job_path(self, group: str, project: str, job_id: str = "") -> str:
        path = f"/api/v1/jobs/{segment(group)}/{segment(project)}"
        return f"{path}/{segment(job_id)}" if job_id else path

    def read(self, path: str, action: str, *, missing_ok: bool = False) -> Any:
        """GET a JSON answer; None on 404 when ``missing_ok``; DriverError otherwise."""
        response = self.call("GET", path, action)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise self.refusal(response, action)
        try:
            return response.json()
        except ValueError:
            raise DriverError(f"Rhythm answered {action} with something that is not JSON", retryable=True) from None

    def write(self, method: str, path: str, action: str, body: Any = None) -> requests.Response:
        """A write that must answer 204; a 200 is a validation failure (refused), anything else a DriverError."""
        response = self.call(method, path, action, json=body) if body is not None else self.call(method, path, action)
        if response.status_code == 204:
            return response
        if response.status_code == 200:
            raise DriverError(f"Rhythm refused to {action}: {rhythm_errors(response)}", status=422)
        raise self.refusal(response, action)

    def refusal(self, response: requests.Response, action: str) -> DriverError:
        """A failed answer as a DriverError: 5xx may pass later, except the authorizer's 500s for missing or bad
        LDAP credentials (an LDAP server that cannot be reached, ``Network Error``, may come back)."""
        status = response.status_code
        text = rhythm_errors(response)
        if status == 403:
            text += " (the token or user may not access this group/project, or GitLab does not know it)"
        if status == 500 and ("auth" in text.lower() or "LDAP" in text) and "Network Error" not in text:
            return DriverError(f"Rhythm refused to {action}: {text} (check the credentials)", status=status)
        retryable = status >= 500 or status in (408, 429)
        verb = "failed" if retryable else "refused"
        return DriverError(f"Rhythm {verb} to {action}: {text}", retryable=retryable, status=status)
