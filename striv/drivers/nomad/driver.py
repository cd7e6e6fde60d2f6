"""``NomadDriver``: pushes rendered specs as (periodic) batch jobs and reads their allocations as runs."""

from __future__ import annotations

import gc
import logging
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import nomad
import nomad.api.exceptions as nomad_exc
import requests

from striv.drivers.base import (
    Driver,
    DriverError,
    Health,
    LogChunk,
    PlanResult,
    PushResult,
    RunInfo,
    RunNowResult,
)
from striv.drivers.nomad.config import DEFAULT_PREFIX, NomadConfig, SecretValue, ServerNameAdapter, normalized
from striv.drivers.nomad.cron import CronError, periodic_next_launches
from striv.drivers.nomad.diff import diff_text
from striv.drivers.nomad.errors import nomad_error
from striv.drivers.nomad.paging import alloc_pages
from striv.drivers.nomad.spec import canonical_keys, spec_validate
from striv.drivers.nomad.translate import alloc_run_info

logger = logging.getLogger(__name__)


# Allocation pages read ahead of the runs being stored (each ~1,000 runs).
READ_AHEAD = 3


def _version_tuple(version: str) -> tuple[int, ...]:
    """``1.6.1`` as (1, 6, 1); a suffix (``-beta.1``, ``+ent``) is ignored."""
    numbers = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    return tuple(int(part or 0) for part in numbers.groups()) if numbers else (0,)


class NomadDriver(Driver):
    """HashiCorp Nomad through python-nomad; the package docstring tells how striv jobs map to Nomad jobs."""

    name = "nomad"
    label = "HashiCorp Nomad"
    config_model = NomadConfig
    settings: NomadConfig

    # --- configuration -------------------------------------------------------------------------------------------

    @classmethod
    def normalized_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return config with the older ``nomad_url`` renamed to ``address``."""
        return normalized(config)

    @classmethod
    def cluster_key(cls, config: Mapping[str, Any]) -> tuple[Any, ...]:
        config = cls.normalized_config(config)
        return (str(config["address"]).rstrip("/"), config.get("region") or "", config.get("namespace") or "default")

    @classmethod
    def job_id_prefix(cls, config: Mapping[str, Any]) -> str:
        """``job_prefix``, ``striv-`` by default: a job's Nomad ID is the prefix and its UUID."""
        return config.get("job_prefix", DEFAULT_PREFIX)

    # --- client ------------------------------------------------------------------------------------------------

    def __init__(self, config: Mapping[str, Any], *, decrypt: Any = None) -> None:
        super().__init__(config, decrypt=decrypt)
        self.config = self.normalized_config(self.config)
        self.prefix = self.job_id_prefix(self.config)
        self.namespace = self.settings.namespace or None
        self._client: nomad.Nomad | None = None

    def _token(self) -> str | None:
        token = self.settings.token
        if isinstance(token, SecretValue):
            if self.decrypt is None:
                raise DriverError("the Nomad token is a secret but no encryption key is configured")
            return self.decrypt(token.encrypted)
        return token or None

    @property
    def client(self) -> nomad.Nomad:
        if self._client is None:
            settings = self.settings
            verify: bool | str = settings.verify
            if settings.ca_cert and verify is not False:
                verify = settings.ca_cert
            cert: tuple[str, str] | str | tuple[()] = ()
            if settings.client_cert:
                cert = (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
            session = requests.Session()
            if settings.tls_server_name:
                adapter = ServerNameAdapter(settings.tls_server_name)
                session.mount("https://", adapter)
            self._client = nomad.Nomad(
                address=settings.url,
                token=self._token(),
                namespace=self.namespace,
                region=settings.region or None,
                timeout=settings.timeout,
                verify=verify,
                cert=cert,
                session=session,
            )
        return self._client

    # --- specs ---------------------------------------------------------------------------------------------------

    @classmethod
    def validate_spec(cls, spec: Mapping[str, Any]) -> None:
        """Check what Nomad would refuse, or read otherwise than the template means (see spec.py)."""
        spec_validate(spec)

    @classmethod
    def next_launches(cls, spec: Mapping[str, Any], *, count: int, after: datetime | None = None) -> list[datetime]:
        """The launches of the spec's ``Periodic`` block, in its ``TimeZone``; [] without one or for a bad one."""
        if not isinstance(spec, Mapping):
            return []
        try:
            return periodic_next_launches(spec.get("Periodic"), now=after, count=count)
        except CronError:
            return []

    # --- jobs --------------------------------------------------------------------------------------------------

    def external_id(self, job_id: str, spec: Mapping[str, Any] | None = None) -> str:
        return f"{self.prefix}{job_id}"

    def job_payload(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> dict:
        """The ``Job`` object sent to Nomad for a rendered spec (top-level keys in Nomad's own case)."""
        job = canonical_keys(spec)
        job["ID"] = self.external_id(job_id)
        job["Name"] = name
        job.setdefault("Type", "batch")
        if self.namespace:
            job["Namespace"] = self.namespace
        job["Meta"] = {**(spec.get("Meta") or {}), **meta}
        if job.get("Periodic") is None and job.get("ParameterizedJob") is None and job["Type"] == "batch":
            # Without a schedule the job would run once on every push; as a parameterized job it waits for run-now.
            job["ParameterizedJob"] = {"Payload": "forbidden"}
        return job

    def push(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PushResult:
        payload = self.job_payload(job_id=job_id, name=name, spec=spec, meta=meta)
        try:
            response = self.client.job.register_job(payload["ID"], {"Job": payload})
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"register job {payload['ID']}") from None
        # An identical periodic job is not written again and answers Index 0.
        return PushResult(
            external_id=payload["ID"], changed=response.get("Index", 1) != 0, warnings=response.get("Warnings") or ""
        )

    def remove(self, *, job_id: str) -> None:
        external_id = self.external_id(job_id)
        try:
            self.client.job.deregister_job(external_id, purge=True)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"deregister job {external_id}") from None

    def read(self, *, job_id: str) -> dict[str, Any] | None:
        external_id = self.external_id(job_id)
        try:
            return self.client.job.get_job(external_id)
        except nomad_exc.URLNotFoundNomadException:
            return None
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"read job {external_id}") from None

    def run_now(self, *, job_id: str) -> RunNowResult:
        external_id = self.external_id(job_id)
        live = self.read(job_id=job_id)
        if live is None:
            raise DriverError(f"job {external_id} is not on the cluster; push it first", status=404)
        try:
            if live.get("ParameterizedJob"):
                response = self.client.job.dispatch_job(external_id)
                return RunNowResult(external_id=response.get("DispatchedJobID", ""), eval_id=response.get("EvalID", ""))
            response = self.client.job.periodic_job(external_id)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"run job {external_id} now") from None
        # From here on Nomad has launched the run: a failure to learn more is a warning, never a refusal.
        eval_id = response.get("EvalID", "")
        if not eval_id:
            return RunNowResult(external_id="", warning="Nomad answered no evaluation for the launch")
        try:
            # Force answers only the eval; the eval names the child job. Nomad checks the request's namespace
            # first (python-nomad sends none for evaluations), so a token scoped to ours needs it said.
            evaluation = self.client.evaluation.request(
                eval_id, method="get", params={"namespace": self._list_namespace()}
            ).json()
        except (nomad_exc.BaseNomadException, requests.RequestException, ValueError) as exc:
            error = nomad_error(exc, f"read evaluation {eval_id}") if not isinstance(exc, ValueError) else exc
            return RunNowResult(external_id="", eval_id=eval_id, warning=f"launched, but {error}")
        return RunNowResult(external_id=evaluation.get("JobID", ""), eval_id=eval_id)

    def plan(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PlanResult:
        payload = self.job_payload(job_id=job_id, name=name, spec=spec, meta=meta)
        try:
            response = self.client.job.plan_job(payload["ID"], {"Job": payload}, diff=True)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"plan job {payload['ID']}") from None
        diff = response.get("Diff") or {}
        return PlanResult(
            changed=diff.get("Type", "None") != "None",
            diff_text=diff_text(diff),
            raw=response,
        )

    @classmethod
    def plan_text(cls, raw: Mapping[str, Any]) -> str:
        """Nomad's structured plan diff (the ``Diff`` of a plan answer) as text."""
        return diff_text(raw.get("Diff") or {})

    def health(self) -> Health:
        """The leader, the servers' version, and whether the token may read jobs in the namespace.

        ``/v1/status/leader`` needs no token, so it proves nothing about it: the job list does.
        """
        try:
            leader = self.client.status.leader.get_leader()
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            return Health(ok=False, detail=str(nomad_error(exc, "read the leader")))
        if not leader:
            return Health(ok=False, detail="Nomad has no leader")
        namespace = self._list_namespace()
        try:
            self.client.jobs.request(method="get", params={"namespace": namespace, "per_page": 1})
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            error = nomad_error(exc, f"list jobs in namespace {namespace}")
            return Health(ok=False, detail=f"leader {leader}; {error.message}")
        parts = [f"leader {leader}", f"jobs readable in namespace {namespace}"]
        try:
            version = str(self.client.agent.get_agent()["config"]["Version"]["Version"])
        except (nomad_exc.BaseNomadException, requests.RequestException, KeyError, TypeError, ValueError):
            parts.append("version unknown (reading it needs agent:read)")
        else:
            parts.insert(1, f"Nomad {version}")
            if _version_tuple(version) < (1, 6, 2):
                parts.append("Periodic.Specs needs Nomad 1.6.2 or later: this cluster drops it")
        return Health(ok=True, detail="; ".join(parts))

    # --- runs ----------------------------------------------------------------------------------------------------

    def job_ref(self, external_job_id: str, prefixes: Sequence[str]) -> str | None:
        """``striv-<uuid>``, ``striv-<uuid>/periodic-<unix>`` and ``striv-<uuid>/dispatch-...`` all map to <uuid>."""
        # Longest first: "striv-ship-<uuid>" must not be read as prefix "striv-" and job "ship-<uuid>".
        for prefix in sorted(prefixes, key=len, reverse=True):
            if external_job_id.startswith(prefix):
                return external_job_id[len(prefix) :].split("/", 1)[0] or None
        return None

    @staticmethod
    def _prefix_filter(prefixes: Sequence[str]) -> str:
        # Escape regex metacharacters only; each backslash doubles again inside the bexpr string literal.
        alternatives = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\\\1", prefix) for prefix in sorted(set(prefixes)))
        return f'JobID matches "^({alternatives})"'

    def _allocations_page(self, params: dict[str, Any]) -> requests.Response:
        try:
            return self.client.allocations.request(method="get", params=params)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, "list allocations") from None

    def runs_index(self) -> int:
        # The allocs table index changes whenever any allocation changes; one tiny page carries it.
        response = self._allocations_page({"per_page": 1, "task_states": "false", "namespace": self._list_namespace()})
        return int(response.headers.get("X-Nomad-Index", "0"))

    def _list_namespace(self) -> str:
        return self.namespace or "default"

    def runs_new(self, *, after: int, prefixes: Sequence[str], page_size: int = 1000) -> Iterator[RunInfo]:
        # Allocations list oldest first by CreateIndex; reversed, the new ones come first and paging stops at the
        # first one already seen. (go-bexpr has no numeric comparison, so the index cannot go in the filter.) When
        # the server's paging starts over (string-compared tokens before 1.10.2), the rest comes by ID prefix, in no
        # particular order: see paging.py.
        params: dict[str, Any] = {
            "filter": self._prefix_filter(prefixes),
            "per_page": page_size,
            "namespace": self._list_namespace(),
        }

        def translate(page: list[dict[str, Any]]) -> list[RunInfo]:
            # Decoding and translating a page builds ~20,000 containers, none in a reference cycle, that live until
            # the page is done: the cyclic collector would scan them again and again (and the whole heap each time
            # they reach its oldest generation), more than doubling the time this takes.
            collecting = gc.isenabled()
            gc.disable()
            try:
                infos: list[RunInfo] = []
                for alloc in page:
                    info = alloc_run_info(alloc, self.job_ref(alloc.get("JobID", ""), prefixes))
                    if info is not None:
                        infos.append(info)
                return infos
            finally:
                if collecting:
                    gc.enable()

        self.client  # noqa: B018 - the client is created here rather than in the reading thread
        # Pages are read, decoded and translated in the background, a few ahead, while the caller stores runs (it
        # mostly waits on the database then). Each page is asked for exactly when reading page by page would.
        pages: queue.Queue[list[RunInfo] | None | BaseException] = queue.Queue(maxsize=READ_AHEAD)
        stop = threading.Event()

        def hand_over(item: list[RunInfo] | None | BaseException) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read_all() -> None:
            try:
                for page in alloc_pages(self._allocations_page, params, reverse=True, floor=after):
                    if stop.is_set() or not hand_over(translate(page)):
                        return
                hand_over(None)
            except BaseException as exc:  # raised in the caller's thread, as if read there
                hand_over(exc)

        reader = threading.Thread(target=read_all, name="nomad-allocations", daemon=True)
        reader.start()
        try:
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    return
                yield from item
        finally:
            stop.set()  # a caller that stops early leaves at most the page in flight to finish
            reader.join()

    def runs_active(self, *, prefixes: Sequence[str]) -> list[RunInfo]:
        # go-bexpr has no list literal ("ClientStatus in [...]" is a 400): alternatives are spelled with "or".
        query = self._prefix_filter(prefixes) + (
            ' and (ClientStatus == "pending" or ClientStatus == "running" or ClientStatus == "unknown")'
        )
        params: dict[str, Any] = {"filter": query, "per_page": 1000, "namespace": self._list_namespace()}
        active: list[RunInfo] = []
        for page in alloc_pages(self._allocations_page, params):
            for alloc in page:
                info = alloc_run_info(alloc, self.job_ref(alloc.get("JobID", ""), prefixes))
                if info is not None:
                    active.append(info)
        return active

    def run_read(self, *, run_ref: str, prefixes: Sequence[str]) -> RunInfo | None:
        try:
            alloc = self.client.allocation.get_allocation(run_ref)
        except nomad_exc.URLNotFoundNomadException:
            return None
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"read allocation {run_ref}") from None
        return alloc_run_info(alloc, self.job_ref(alloc.get("JobID", ""), prefixes))

    def fetch_logs(
        self, *, run_ref: str, task: str, stream: str, offset: int = 0, max_bytes: int | None = None
    ) -> LogChunk:
        """Read a task's log through the server, plain. A negative ``offset`` reads the last ``-offset`` bytes.

        Nomad's ``origin=end`` does not say where the tail starts, so a tail is read from the start and the last
        bytes kept: the absolute offsets are what a follower needs to ask only for new bytes next time.
        """
        start = max(offset, 0)
        params = {"task": task, "type": stream, "plain": "true", "origin": "start", "offset": start}
        try:
            response = self.client.client.stream_logs.request(run_ref, method="get", params=params, stream=True)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"read the {stream} of task {task} of allocation {run_ref}") from None
        try:
            with response:
                return self._log_read(response, offset, start, max_bytes)
        except requests.RequestException as exc:
            # The server relays the log from the client node; a restart or reset cuts the body short.
            raise DriverError(
                f"Nomad cut the {stream} of task {task} of allocation {run_ref} short: {exc}", retryable=True
            ) from None

    @staticmethod
    def _log_read(response: requests.Response, offset: int, start: int, max_bytes: int | None) -> LogChunk:
        if offset < 0:
            keep = -offset if max_bytes is None else min(-offset, max_bytes)
            tail = bytearray()
            total = 0
            for piece in response.iter_content(64 * 1024):
                total += len(piece)
                tail += piece
                if len(tail) > keep:
                    del tail[: len(tail) - keep]
            return LogChunk(data=bytes(tail), offset=total - len(tail), next_offset=total, complete=True)
        data = bytearray()
        complete = True
        for piece in response.iter_content(64 * 1024):
            data += piece
            if max_bytes is not None and len(data) >= max_bytes:
                complete = len(data) == max_bytes
                del data[max_bytes:]
                break
        return LogChunk(data=bytes(data), offset=start, next_offset=start + len(data), complete=complete)
