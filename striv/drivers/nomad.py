"""The Nomad driver: pushes rendered specs as (periodic) batch jobs through python-nomad."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from striv.drivers.base import Driver

logger = logging.getLogger(__name__)

CONFIG_FIELDS = {
    "address": "Nomad HTTP address, e.g. http://nomad.internal:4646",
    "nomad_url": "older name of address",
    "token": "ACL token (a secret value is decrypted only when used)",
    "namespace": "Nomad namespace (default: default)",
    "region": "Nomad region",
    "ca_cert": "path of a CA bundle to verify the server",
    "client_cert": "path of a client certificate for mutual TLS",
    "client_key": "path of the client certificate's key",
    "verify": "verify TLS certificates (default true)",
    "job_prefix": "prefix of Nomad job IDs (default striv-)",
    "timeout": "seconds to wait for an answer (default 10)",
}


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("_striv_type") == "secret"


class NomadDriver(Driver):
    """Nomad: one striv job is one Nomad job with the stable ID ``<job_prefix><job uuid>``."""

    name = "nomad"
    label = "HashiCorp Nomad"

    @classmethod
    def config_problems(cls, config: Any) -> dict[str, str]:
        problems = super().config_problems(config)
        if problems:
            return problems
        for key in config:
            if key not in CONFIG_FIELDS:
                problems[key] = f"unknown field; known: {', '.join(CONFIG_FIELDS)}"
        if "address" in config and "nomad_url" in config:
            problems["nomad_url"] = "give either address or its older name nomad_url, not both"
        address = config.get("address", config.get("nomad_url"))
        if address is None:
            problems["address"] = "required (the Nomad HTTP address)"
        elif not isinstance(address, str) or urlparse(address).scheme not in ("http", "https") or not urlparse(
            address
        ).netloc:
            problems["address" if "address" in config else "nomad_url"] = f"must be an http(s) URL, got {address!r}"
        for key in ("namespace", "region", "ca_cert", "client_cert", "client_key", "job_prefix"):
            if key in config and not isinstance(config[key], str):
                problems[key] = "must be a string"
        if "token" in config and not (isinstance(config["token"], str) or _is_secret(config["token"])):
            problems["token"] = "must be a string or a secret value"
        if "verify" in config and not isinstance(config["verify"], bool | str):
            problems["verify"] = "must be true, false or a CA bundle path"
        if "timeout" in config and (
            not isinstance(config["timeout"], int | float) or isinstance(config["timeout"], bool) or config["timeout"] <= 0
        ):
            problems["timeout"] = "must be a positive number of seconds"
        if "client_key" in config and "client_cert" not in config:
            problems["client_key"] = "needs client_cert"
        return problems

    @classmethod
    def normalized_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return config with the older ``nomad_url`` renamed to ``address``."""
        result = dict(config)
        if "nomad_url" in result:
            result["address"] = result.pop("nomad_url")
        return result

    @classmethod
    def cluster_key(cls, config: Mapping[str, Any]) -> tuple:
        config = cls.normalized_config(config)
        return (str(config["address"]).rstrip("/"), config.get("region") or "", config.get("namespace") or "default")
