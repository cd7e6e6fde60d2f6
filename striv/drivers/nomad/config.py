"""The Nomad driver's ``driver_config``, as a declarative schema (``NomadConfig``).

Messages stay in striv's wording (``worded``), so load-state and the driver report ``must be a string`` rather than
the schema library's text; every problem is reported at once, each at its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import requests.adapters
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from striv.drivers.base import ConfigPath, DriverConfig, worded

DEFAULT_PREFIX = "striv-"
DEFAULT_TIMEOUT = 10


def _http_url(address: str | None) -> str | None:
    if address is None:  # absent: rules() says whether one of the two names is required
        return None
    parts = urlparse(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return address


HttpAddress = Annotated[
    str | SkipJsonSchema[None], AfterValidator(_http_url), worded("must be an http(s) URL, got {input}")
]
Text = Annotated[str, worded("must be a string")]


class SecretValue(BaseModel):
    """A secret value object (as in ``striv.secret``), decrypted with striv's key only when used."""

    model_config = ConfigDict(extra="allow", frozen=True)

    striv_type: Literal["secret"] = Field(alias="_striv_type")  # secret.TYPE_KEY; pydantic wants a literal
    encrypted: Any = Field(default=None, description="the ciphertext made by encrypt-value")


class NomadConfig(DriverConfig):
    """How striv reaches one Nomad cluster (and namespace)."""

    address: HttpAddress = Field(
        default=None, description="Nomad HTTP address, e.g. http://nomad.internal:4646 (required)"
    )
    nomad_url: HttpAddress = Field(default=None, description="older name of address")
    token: Annotated[str | SecretValue, worded("must be a string or a secret value")] = Field(
        default="", description="ACL token (a secret value is decrypted only when used)"
    )
    namespace: Text = Field(default="", description="Nomad namespace (default: default)")
    region: Text = Field(default="", description="Nomad region")
    ca_cert: Text = Field(default="", description="path of a CA bundle to verify the server")
    client_cert: Text = Field(default="", description="path of a client certificate for mutual TLS")
    client_key: Text = Field(default="", description="path of the client certificate's key")
    verify: Annotated[bool | str, worded("must be true, false or a CA bundle path")] = Field(
        default=True, description="verify TLS certificates (default true)"
    )
    tls_server_name: Text = Field(
        default="",
        description="the name to expect in the server's certificate when it differs from the address's host "
        "(as Nomad's -tls-server-name, e.g. server.global.nomad)",
    )
    job_prefix: Text = Field(default=DEFAULT_PREFIX, description="prefix of Nomad job IDs (default striv-)")
    timeout: Annotated[float, Field(gt=0), worded("must be a positive number of seconds")] = Field(
        default=DEFAULT_TIMEOUT, description="seconds to wait for an answer (default 10)"
    )

    @classmethod
    def rules(cls, data: Mapping[str, Any]) -> list[tuple[ConfigPath, str]]:
        broken: list[tuple[ConfigPath, str]] = []
        if "address" in data and "nomad_url" in data:
            broken.append((("nomad_url",), "give either address or its older name nomad_url, not both"))
        if data.get("address", data.get("nomad_url")) is None:
            broken.append((("address",), "required (the Nomad HTTP address)"))
        if "client_key" in data and "client_cert" not in data:
            broken.append((("client_key",), "needs client_cert"))
        return broken

    @property
    def url(self) -> str:
        """The Nomad HTTP address, without a trailing slash, under either of its names."""
        return str(self.address or self.nomad_url).rstrip("/")


def normalized(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``config`` with the older ``nomad_url`` renamed to ``address``."""
    result = dict(config)
    if "nomad_url" in result:
        result["address"] = result.pop("nomad_url")
    return result


class ServerNameAdapter(requests.adapters.HTTPAdapter):
    """Sends ``server_name`` as the TLS SNI and checks the certificate against it instead of the address's host."""

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self.server_name
        kwargs["assert_hostname"] = self.server_name
        super().init_poolmanager(*args, **kwargs)
