"""The Nomad driver: pushes rendered specs as (periodic) batch jobs through python-nomad.

One striv job is one Nomad job with the stable ID ``<job_prefix><job uuid>``, so renaming a job in striv only
changes the Nomad ``Name``. ``Meta`` carries ``striv_job_id`` and ``striv_execution``. A template without
``Periodic`` (and without ``ParameterizedJob``) is registered as a parameterized batch job so that it does not run
when it is pushed; "run now" dispatches it. Periodic jobs are run now with a periodic force.
"""

from __future__ import annotations

import gc
import logging
import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import urlparse

import msgspec
import nomad
import nomad.api.exceptions as nomad_exc
import requests

from striv import templating
from striv.cron import CronError, periodic_next_launches, periodic_validate
from striv.drivers.base import (
    Driver,
    DriverError,
    Health,
    LogChunk,
    PlanResult,
    PushResult,
    RunInfo,
    RunNowResult,
    TaskInfo,
)

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "striv-"
DEFAULT_TIMEOUT = 10
# Allocation pages read ahead of the runs being stored (each ~1,000 runs).
READ_AHEAD = 3

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

# Nomad answers 500 for refusals too (validation, update rules, unknown namespace): these texts mark a refusal that
# retrying unchanged cannot fix. Anything else at 500 (rpc errors, no leader, no path to region) may pass later.
REFUSAL_MARKERS = (
    "error occurred",
    "errors occurred",
    "cannot update",
    "Enforcing job modify index",
    "nonexistent namespace",
    "can't force",
    "job not found",
    "Invalid ",
    "Missing job",
    "Job ID",
    "Periodic can only",
    "priority must be",
)


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("_striv_type") == "secret"


def nomad_error(exc: Exception, action: str) -> DriverError:
    """Translate a python-nomad or requests failure into a DriverError that says whether a retry may help."""
    response = getattr(exc, "nomad_resp", None)
    if isinstance(response, requests.Response):
        status = response.status_code
        text = (response.text or "").strip() or response.reason or f"HTTP {status}"
        if status >= 500:
            retryable = not any(marker in text for marker in REFUSAL_MARKERS)
        else:
            retryable = status in (408, 429)
        return DriverError(
            f"Nomad refused to {action}: {text}" if not retryable else f"Nomad failed to {action}: {text}",
            retryable=retryable,
            status=status,
        )
    cause = response if isinstance(response, BaseException) else exc
    return DriverError(f"Nomad unreachable while trying to {action}: {cause}", retryable=True)


class NomadDriver(Driver):
    """HashiCorp Nomad through python-nomad; see the module docstring for how jobs map to Nomad jobs."""

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
        field = "address" if "address" in config or "nomad_url" not in config else "nomad_url"
        if address is None:
            problems["address"] = "required (the Nomad HTTP address)"
        elif (
            not isinstance(address, str)
            or urlparse(address).scheme not in ("http", "https")
            or not urlparse(address).netloc
        ):
            problems[field] = f"must be an http(s) URL, got {address!r}"
        for key in ("namespace", "region", "ca_cert", "client_cert", "client_key", "job_prefix"):
            if key in config and not isinstance(config[key], str):
                problems[key] = "must be a string"
        if "token" in config and not (isinstance(config["token"], str) or _is_secret(config["token"])):
            problems["token"] = "must be a string or a secret value"
        if "verify" in config and not isinstance(config["verify"], bool | str):
            problems["verify"] = "must be true, false or a CA bundle path"
        timeout = config.get("timeout", DEFAULT_TIMEOUT)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
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

    # --- client ------------------------------------------------------------------------------------------------

    def __init__(self, config: Mapping[str, Any], *, decrypt: Any = None) -> None:
        super().__init__(config, decrypt=decrypt)
        self.config = self.normalized_config(self.config)
        self.prefix = self.config.get("job_prefix", DEFAULT_PREFIX)
        self.namespace = self.config.get("namespace") or None
        self._client: nomad.Nomad | None = None

    def _token(self) -> str | None:
        token = self.config.get("token")
        if _is_secret(token):
            if self.decrypt is None:
                raise DriverError("the Nomad token is a secret but no encryption key is configured")
            return self.decrypt(token["encrypted"])
        return token or None

    @property
    def client(self) -> nomad.Nomad:
        if self._client is None:
            verify: Any = self.config.get("verify", True)
            if self.config.get("ca_cert") and verify is not False:
                verify = self.config["ca_cert"]
            cert: Any = ()
            if self.config.get("client_cert"):
                cert = (
                    (self.config["client_cert"], self.config["client_key"])
                    if self.config.get("client_key")
                    else self.config["client_cert"]
                )
            self._client = nomad.Nomad(
                address=str(self.config["address"]).rstrip("/"),
                token=self._token(),
                namespace=self.namespace,
                region=self.config.get("region") or None,
                timeout=self.config.get("timeout", DEFAULT_TIMEOUT),
                verify=verify,
                cert=cert,
                session=requests.Session(),
            )
        return self._client

    # --- jobs --------------------------------------------------------------------------------------------------

    def external_id(self, job_id: str, spec: Mapping[str, Any] | None = None) -> str:
        return f"{self.prefix}{job_id}"

    @classmethod
    def validate_spec(cls, spec: Mapping[str, Any]) -> None:
        """Check what Nomad would refuse and striv can see without asking: the type and the periodic block."""
        job_type = spec.get("Type", "batch")
        if job_type not in ("batch", "sysbatch", "service", "system"):
            raise templating.RenderError(f"Type: invalid job type {job_type!r}", param="Type")
        periodic = spec.get("Periodic")
        if periodic is not None:
            if not isinstance(periodic, Mapping):
                raise templating.RenderError("Periodic must be an object", param="Periodic")
            if job_type not in ("batch", "sysbatch"):
                raise templating.RenderError('Periodic can only be used with "batch" or "sysbatch" jobs', param="Type")
            try:
                periodic_validate(periodic)
            except CronError as exc:
                raise templating.RenderError(str(exc), param=exc.field) from None

    @classmethod
    def next_launches(cls, spec: Mapping[str, Any], count: int = 5) -> list:
        """The next ``count`` launch times of a rendered spec (empty when it is not periodic)."""
        try:
            return periodic_next_launches(spec.get("Periodic"), count=count)
        except CronError:
            return []

    def job_payload(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> dict:
        """The ``Job`` object sent to Nomad for a rendered spec."""
        job = dict(spec)
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
            eval_id = response.get("EvalID", "")
            child = ""
            if eval_id:
                # Force answers only the eval; the eval names the child job.
                child = self.client.evaluation.get_evaluation(eval_id).get("JobID", "")
            return RunNowResult(external_id=child, eval_id=eval_id)
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            raise nomad_error(exc, f"run job {external_id} now") from None

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

    def health(self) -> Health:
        try:
            leader = self.client.status.leader.get_leader()
        except (nomad_exc.BaseNomadException, requests.RequestException) as exc:
            return Health(ok=False, detail=str(nomad_error(exc, "read the leader")))
        if not leader:
            return Health(ok=False, detail="Nomad has no leader")
        return Health(ok=True, detail=f"leader {leader}")

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
        # first one already seen. (go-bexpr has no numeric comparison, so the index cannot go in the filter.)
        params: dict[str, Any] = {
            "filter": self._prefix_filter(prefixes),
            "per_page": page_size,
            "reverse": "true",
            "namespace": self._list_namespace(),
        }

        def read(page_params: dict[str, Any]) -> tuple[list[RunInfo], str | None]:
            """Read one page; returns its new runs and the token of the page to read next (None: stop here)."""
            response = self._allocations_page(page_params)
            # Decoding and translating a page builds ~20,000 containers, none in a reference cycle, that live until
            # the page is done: the cyclic collector would scan them again and again (and the whole heap each time
            # they reach its oldest generation), more than doubling the time this takes.
            collecting = gc.isenabled()
            gc.disable()
            try:
                infos: list[RunInfo] = []
                for alloc in _alloc_page_decode(response):
                    if int(alloc.get("CreateIndex", 0)) <= after:
                        return infos, None
                    info = alloc_run_info(alloc, self.job_ref(alloc.get("JobID", ""), prefixes))
                    if info is not None:
                        infos.append(info)
                return infos, response.headers.get("X-Nomad-NextToken") or None
            finally:
                if collecting:
                    gc.enable()

        self.client  # noqa: B018 - the client is created here rather than in the reading thread
        # Pages are read, decoded and translated in the background, a few ahead, while the caller stores runs (it
        # mostly waits on the database then). Each page is asked for exactly when reading page by page would.
        pages: queue.Queue[tuple[list[RunInfo], str | None] | BaseException] = queue.Queue(maxsize=READ_AHEAD)
        stop = threading.Event()

        def hand_over(item: tuple[list[RunInfo], str | None] | BaseException) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read_all() -> None:
            try:
                while not stop.is_set():
                    infos, next_token = read(dict(params))
                    if not hand_over((infos, next_token)) or not next_token:
                        return
                    params["next_token"] = next_token
            except BaseException as exc:  # raised in the caller's thread, as if read there
                hand_over(exc)

        reader = threading.Thread(target=read_all, name="nomad-allocations", daemon=True)
        reader.start()
        try:
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                infos, next_token = item
                yield from infos
                if not next_token:
                    return
        finally:
            stop.set()  # a caller that stops early leaves at most the page in flight to finish
            reader.join()

    def runs_active(self, *, prefixes: Sequence[str]) -> list[RunInfo]:
        query = self._prefix_filter(prefixes) + ' and ClientStatus in ["pending", "running"]'
        params: dict[str, Any] = {"filter": query, "per_page": 1000, "namespace": self._list_namespace()}
        active: list[RunInfo] = []
        while True:
            response = self._allocations_page(dict(params))
            for alloc in _alloc_page_decode(response):
                info = alloc_run_info(alloc, self.job_ref(alloc.get("JobID", ""), prefixes))
                if info is not None:
                    active.append(info)
            next_token = response.headers.get("X-Nomad-NextToken")
            if not next_token:
                return active
            params["next_token"] = next_token

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
        with response:
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


# --- allocations to runs -----------------------------------------------------------------------------------------


class _EventFields(TypedDict, total=False):
    Type: Any
    Message: Any
    DisplayMessage: Any
    Details: Any
    ExitCode: Any


class _TaskStateFields(TypedDict, total=False):
    State: Any
    Failed: Any
    StartedAt: Any
    FinishedAt: Any
    Events: list[_EventFields] | None


class _AllocFields(TypedDict, total=False):
    """What runs_new, runs_active and alloc_run_info read of an allocation list stub: keep them in step."""

    ID: Any
    JobID: Any
    ClientStatus: Any
    ClientDescription: Any
    CreateIndex: Any
    CreateTime: Any
    ModifyTime: Any
    TaskStates: dict[str, _TaskStateFields] | None


# A page of 1,000 stubs with task states is ~3 MB of JSON, mostly event fields striv never reads: decoding only the
# fields above into plain dicts takes a quarter of the time of a full decode and builds a tenth of the objects.
_ALLOC_PAGE = msgspec.json.Decoder(list[_AllocFields])


def _alloc_page_decode(response: requests.Response) -> list[dict[str, Any]]:
    """Return a page of allocation stubs, each a dict of the `_AllocFields` it has; raises ValueError for bad JSON."""
    return _ALLOC_PAGE.decode(response.content)


def _nanos(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1e9, tz=UTC)


_FRACTION = re.compile(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$")


def _rfc3339(value: Any) -> datetime | None:
    # Nomad writes null or 0001-01-01T00:00:00Z for a zero time, and nanosecond fractions.
    if not value:
        return None
    text = str(value)
    if text.startswith("0001-"):
        return None
    try:
        # Python 3.11+ reads a trailing "Z" and drops fraction digits past the sixth: Nomad's form as it comes.
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    text = text.replace("Z", "+00:00")
    match = _FRACTION.match(text)
    if match and match.group(2):
        text = match.group(1) + match.group(2)[:7] + match.group(3)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


STATUS_MAP = {"pending": "pending", "running": "running", "complete": "successful", "failed": "failed", "lost": "lost"}


def _task_info(name: str, state: Mapping[str, Any]) -> TaskInfo:
    exit_code = None
    message = ""
    for event in state.get("Events") or ():
        kind = event.get("Type")
        if kind == "Terminated":
            code = event["ExitCode"] if "ExitCode" in event else (event.get("Details") or {}).get("exit_code")
            try:
                exit_code = int(code) if code is not None else None
            except (TypeError, ValueError):
                exit_code = None
        text = event.get("DisplayMessage") or event.get("Message") or ""
        if text:
            message = f"{kind}: {text}" if kind else text
    return TaskInfo(
        name=name,
        state=state.get("State") or "pending",
        failed=bool(state.get("Failed")),
        exit_code=exit_code,
        started=_rfc3339(state.get("StartedAt")),
        finished=_rfc3339(state.get("FinishedAt")),
        message=message,
    )


def alloc_run_info(alloc: Mapping[str, Any], job_ref: str | None) -> RunInfo | None:
    """Translate a Nomad allocation (list stub or full) into a RunInfo; None when it is not a striv job's run.

    List pages are decoded with only the fields of `_AllocFields`: a field read here must be listed there too.
    """
    if not job_ref:
        return None
    states = alloc.get("TaskStates")
    tasks = tuple([_task_info(name, states[name]) for name in sorted(states)]) if states else ()
    client_status = alloc.get("ClientStatus", "pending")
    status = STATUS_MAP.get(client_status, "lost")
    reason = ""
    if client_status == "unknown":
        reason = "the Nomad client running it disconnected (status unknown)"
    elif client_status == "lost":
        reason = alloc.get("ClientDescription") or "the node running it was lost"
    elif client_status == "failed":
        failing = [t for t in tasks if t.failed] or list(tasks)
        reason = (failing[0].message if failing else "") or alloc.get("ClientDescription") or "failed"
    exit_code = None
    failed_code = None
    started = None
    finished = None
    for task in tasks:
        code = task.exit_code
        if code is not None:
            if task.failed and failed_code is None:
                failed_code = code
            if exit_code is None or code > exit_code:
                exit_code = code
        if task.started and (started is None or task.started < started):
            started = task.started
        if task.finished and (finished is None or task.finished > finished):
            finished = task.finished
    if failed_code is not None:
        exit_code = failed_code
    if status in ("successful", "failed", "lost"):
        finished = finished or _nanos(alloc.get("ModifyTime"))
    else:
        finished = None
    return RunInfo(
        external_id=alloc["ID"],
        job_ref=job_ref,
        status=status,
        created=_nanos(alloc.get("CreateTime")) or datetime.now(tz=UTC),
        started=started,
        finished=finished,
        exit_code=exit_code if status != "running" else None,
        reason=reason,
        tasks=tasks,
        create_index=int(alloc.get("CreateIndex", 0)),
    )


# --- plan diffs --------------------------------------------------------------------------------------------------

_SIGN = {"Added": "+", "Deleted": "-", "Edited": "~", "None": " "}


def diff_text(diff: Mapping[str, Any]) -> str:
    """Render Nomad's structured plan diff as indented text, one changed field per line; '' when nothing changes."""
    if not diff or diff.get("Type", "None") == "None":
        return ""
    lines: list[str] = [f"{_SIGN.get(diff.get('Type'), '~')} Job: {diff.get('ID', '')}"]
    _diff_lines(diff, lines, indent=1)
    for group in diff.get("TaskGroups") or []:
        if group.get("Type") == "None":
            continue
        updates = ", ".join(f"{count} {kind}" for kind, count in (group.get("Updates") or {}).items())
        lines.append(
            f"  {_SIGN.get(group.get('Type'), '~')} Task group: {group.get('Name')}"
            + (f" ({updates})" if updates else "")
        )
        _diff_lines(group, lines, indent=2)
        for task in group.get("Tasks") or []:
            if task.get("Type") == "None":
                continue
            notes = ", ".join(task.get("Annotations") or [])
            lines.append(
                f"    {_SIGN.get(task.get('Type'), '~')} Task: {task.get('Name')}" + (f" ({notes})" if notes else "")
            )
            _diff_lines(task, lines, indent=3)
    return "\n".join(lines)


def _diff_lines(node: Mapping[str, Any], lines: list[str], *, indent: int) -> None:
    pad = "  " * indent
    for field in node.get("Fields") or []:
        if field.get("Type") == "None":
            continue
        sign = _SIGN.get(field.get("Type"), "~")
        old, new = field.get("Old", ""), field.get("New", "")
        if field.get("Type") == "Added":
            lines.append(f"{pad}{sign} {field.get('Name')}: {new!r}")
        elif field.get("Type") == "Deleted":
            lines.append(f"{pad}{sign} {field.get('Name')}: {old!r}")
        else:
            lines.append(f"{pad}{sign} {field.get('Name')}: {old!r} => {new!r}")
    for obj in node.get("Objects") or []:
        if obj.get("Type") == "None":
            continue
        lines.append(f"{pad}{_SIGN.get(obj.get('Type'), '~')} {obj.get('Name')} {{")
        _diff_lines(obj, lines, indent=indent + 1)
        lines.append(f"{pad}  }}")
