"""Status, agent, region and namespace endpoints."""

from __future__ import annotations

from tests.emulators.nomad.exchange import _Request, _Response
from tests.emulators.nomad.helpers import POLICY_CAPABILITIES, NomadEmulatorError


class _AgentEndpoints:
    """``/v1/status``, ``/v1/agent``, ``/v1/regions`` and ``/v1/namespace(s)``; part of `_Api`."""

    # status, agent, regions, namespaces ------------------------------------------------------------------------

    def status_leader(self, req: _Request) -> _Response:
        """GET /v1/status/leader: the leader's RPC address (no ACL needed)."""
        return self.json(req, "127.0.0.1:4647")

    def status_peers(self, req: _Request) -> _Response:
        """GET /v1/status/peers: the raft peers."""
        return self.json(req, ["127.0.0.1:4647"])

    def regions(self, req: _Request) -> _Response:
        """GET /v1/regions: the known regions."""
        return self.json(req, [self.state.region])

    def agent_health(self, req: _Request) -> _Response:
        """GET /v1/agent/health: server and client health."""
        return self.json(req, {"client": {"ok": True, "message": "ok"}, "server": {"ok": True, "message": "ok"}})

    def agent_self(self, req: _Request) -> _Response:
        """GET /v1/agent/self: config, member and stats (needs agent:read)."""
        token = self.token(req)
        if token is not None and not (token.management or token.agent in ("read", "write")):
            raise NomadEmulatorError(403, "Permission denied")
        state = self.state
        version = {
            "Version": self.emulator.version,
            "VersionPrerelease": "",
            "VersionMetadata": "",
            "Revision": "emulator",
            "BuildDate": "2026-01-15T00:00:00Z",
        }
        return self.json(
            req,
            {
                "config": {
                    "Region": state.region,
                    "Datacenter": state.datacenter,
                    "NodeName": state.node_name,
                    "Version": version,
                    "ACL": {"Enabled": self.emulator.acl},
                    "Server": {"Enabled": True},
                    "Client": {"Enabled": True},
                },
                "member": {
                    "Name": f"{state.node_name}.{state.region}",
                    "Addr": "127.0.0.1",
                    "Port": 4648,
                    "Tags": {
                        "region": state.region,
                        "dc": state.datacenter,
                        "role": "nomad",
                        "build": self.emulator.version,
                    },
                    "Status": "alive",
                },
                "stats": {
                    "nomad": {
                        "leader": "true",
                        "leader_addr": "127.0.0.1:4647",
                        "server": "true",
                        "known_regions": "1",
                    },
                    "client": {"node_id": state.node_id, "known_servers": "127.0.0.1:4647"},
                },
            },
        )

    def namespaces_list(self, req: _Request) -> _Response:
        """GET /v1/namespaces: namespaces the token may use; blocks on namespaces."""
        index, wait = self.blocking_args(req)
        token = self.token(req)
        state = self.state
        self.block(index, wait, lambda: state.table_index["namespaces"])
        prefix = req.arg("prefix") or ""
        with state.lock:
            items = [
                dict(ns)
                for name, ns in sorted(state.namespaces.items())
                if name.startswith(prefix)
                and (token is None or token.management or token.allows(name, *POLICY_CAPABILITIES["write"]))
            ]
            current = max(state.table_index["namespaces"], 1)
        return self.json(req, items, index=current, query_meta=True)

    def namespace_read(self, req: _Request, name: str) -> _Response:
        """GET /v1/namespace/:name: one namespace or 404."""
        self.require(req, name, *POLICY_CAPABILITIES["write"])
        with self.state.lock:
            namespace = self.state.namespaces.get(name)
            if namespace is None:
                raise NomadEmulatorError(404, "namespace not found")
            namespace = dict(namespace)
        return self.json(req, namespace, index=namespace["ModifyIndex"], query_meta=True)
