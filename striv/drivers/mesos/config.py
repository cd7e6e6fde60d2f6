"""The Mesos driver's ``driver_config``, as a declarative schema (``MesosConfig``): where Rhythm and the Mesos
master are, how to authenticate to each, and Rhythm's job namespace (group and project)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from striv.drivers.base import ConfigPath, DriverConfig, worded

DEFAULT_PREFIX = "striv-"
DEFAULT_TIMEOUT = 10
#: Rhythm's pattern for group, project and job IDs.
ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")


def _http_url(address: str | None) -> str | None:
    if address is None:
        return None
    parts = urlparse(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return address


def _rhythm_name(value: str) -> str:
    if not ID_PATTERN.match(value):
        raise ValueError("not a Rhythm name")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None
    return value


HttpAddress = Annotated[
    str | SkipJsonSchema[None], AfterValidator(_http_url), worded("must be an http(s) URL, got {input}")
]
Text = Annotated[str, worded("must be a string")]
RhythmName = Annotated[
    str, AfterValidator(_rhythm_name), worded("must be letters, digits, '-' or '_' (Rhythm's pattern), got {input}")
]


class SecretValue(BaseModel):
    """A secret value object (as in ``striv.secret``), decrypted with striv's key only when used."""

    model_config = ConfigDict(extra="allow", frozen=True)

    striv_type: Literal["secret"] = Field(alias="_striv_type")
    encrypted: Any = Field(default=None, description="the ciphertext made by encrypt-value")


Credential = Annotated[str | SecretValue, worded("must be a string or a secret value")]


class MesosConfig(DriverConfig):
    """How striv reaches one Rhythm server (and one group/project of it) and the Mesos master behind it."""

    rhythm_url: HttpAddress = Field(default=None, description="Rhythm's address, e.g. https://rhythm:8000 (required)")
    group: RhythmName = Field(default="", description="Rhythm group of striv's jobs (required)")
    project: RhythmName = Field(default="", description="Rhythm project of striv's jobs (required)")
    auth: Annotated[Literal["none", "gitlab", "ldap"], worded("must be none, gitlab or ldap")] = Field(
        default="none", description="Rhythm's auth backend: none, gitlab (token in X-Token) or ldap (basic auth)"
    )
    token: Credential = Field(default="", description="GitLab access token for auth gitlab (may be a secret)")
    username: Text = Field(default="", description="LDAP user for auth ldap")
    password: Credential = Field(default="", description="LDAP password for auth ldap (may be a secret)")
    mesos_master_url: HttpAddress = Field(
        default=None, description="Mesos master address for logs, e.g. http://master:5050 (no logs without it)"
    )
    mesos_username: Text = Field(default="", description="HTTP Basic user for the Mesos master and agents")
    mesos_password: Credential = Field(default="", description="HTTP Basic password for the master and agents")
    time_zone: Annotated[str, AfterValidator(_zone), worded("must be an IANA time zone name, got {input}")] = Field(
        default="UTC", description="the Rhythm server's local time zone, which its cron follows (default UTC)"
    )
    ca_cert: Text = Field(default="", description="path of a CA bundle to verify the servers")
    client_cert: Text = Field(default="", description="path of a client certificate for mutual TLS")
    client_key: Text = Field(default="", description="path of the client certificate's key")
    verify: Annotated[bool | str, worded("must be true, false or a CA bundle path")] = Field(
        default=True, description="verify TLS certificates (default true)"
    )
    job_prefix: Text = Field(default=DEFAULT_PREFIX, description="prefix of Rhythm job IDs (default striv-)")
    timeout: Annotated[float, Field(gt=0), worded("must be a positive number of seconds")] = Field(
        default=DEFAULT_TIMEOUT, description="seconds to wait for an answer (default 10)"
    )

    @classmethod
    def rules(cls, data: Mapping[str, Any]) -> list[tuple[ConfigPath, str]]:
        broken: list[tuple[ConfigPath, str]] = []
        if data.get("rhythm_url") is None:
            broken.append((("rhythm_url",), "required (Rhythm's address)"))
        for name in ("group", "project"):
            if not data.get(name):
                broken.append(((name,), f"required (Rhythm's {name} of striv's jobs)"))
        auth = data.get("auth", "none")
        if auth == "gitlab" and not data.get("token"):
            broken.append((("token",), "required with auth gitlab"))
        if auth == "ldap" and not data.get("username"):
            broken.append((("username",), "required with auth ldap"))
        if "client_key" in data and "client_cert" not in data:
            broken.append((("client_key",), "needs client_cert"))
        prefix = data.get("job_prefix", DEFAULT_PREFIX)
        if isinstance(prefix, str) and prefix and not ID_PATTERN.match(prefix):
            broken.append((("job_prefix",), "must be letters, digits, '-' or '_' (part of Rhythm job IDs)"))
        return broken

    @property
    def url(self) -> str:
        return str(self.rhythm_url).rstrip("/")
