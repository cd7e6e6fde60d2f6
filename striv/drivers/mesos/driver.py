"""``MesosDriver``: striv jobs as Rhythm cron jobs on Apache Mesos, their tasks as runs, their logs from agents."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from striv.drivers.base import (
    Driver,
    DriverError,
    Health,
    LogChunk,
    PlanResult,
    PushResult,
    RunInfo,
    RunNowResult,
    SpecError,
)
from striv.drivers.mesos import cron, translate
from striv.drivers.mesos.client import Http, Rhythm
from striv.drivers.mesos.config import DEFAULT_PREFIX, MesosConfig, SecretValue
from striv.drivers.mesos.files import MesosFiles

#: How far before the newest End seen runs_new looks again: Rhythm stamps End when it handles an update, so two
#: updates handled together may be saved out of order, and several records can share one millisecond.
LOOKBACK_MS = 10 * 60 * 1000
#: Job states in which a run is queued or in progress: run-now is refused then (Rhythm would start a second task).
BUSY_STATES = ("Staging", "Starting", "Running")


class MesosDriver(Driver):
    """Apache Mesos through Rhythm; the package docstring tells how striv jobs map to Rhythm jobs."""

    name = "mesos"
    label = "Apache Mesos (Rhythm)"
    config_model = MesosConfig
    settings: MesosConfig

    # --- configuration -------------------------------------------------------------------------------------------

    @classmethod
    def cluster_key(cls, config: Mapping[str, Any]) -> tuple[Any, ...]:
        return (str(config.get("rhythm_url", "")).rstrip("/"), config.get("group", ""), config.get("project", ""))

    @classmethod
    def job_id_prefix(cls, config: Mapping[str, Any]) -> str:
        """``job_prefix``, ``striv-`` by default: a job's Rhythm ID is the prefix and the job's UUID."""
        return str(config.get("job_prefix", DEFAULT_PREFIX))

    def __init__(self, config: Mapping[str, Any], *, decrypt: Any = None) -> None:
        super().__init__(config, decrypt=decrypt)
        self.prefix = self.job_id_prefix(self.config)
        self.zone = ZoneInfo(self.settings.time_zone)
        self._rhythm: Rhythm | None = None
        self._files: MesosFiles | None = None

    def _clear(self, value: str | SecretValue) -> str:
        if isinstance(value, SecretValue):
            if self.decrypt is None:
                raise DriverError("a credential of the Mesos execution is a secret but no encryption key is configured")
            return self.decrypt(value.encrypted)
        return value

    def _tls(self) -> dict[str, Any]:
        settings = self.settings
        verify: bool | str = settings.verify
        if settings.ca_cert and verify is not False:
            verify = settings.ca_cert
        cert: tuple[str, str] | str | None = None
        if settings.client_cert:
            cert = (settings.client_cert, settings.client_key) if settings.client_key else settings.client_cert
        return {"verify": verify, "cert": cert, "timeout": settings.timeout}

    @property
    def rhythm(self) -> Rhythm:
        if self._rhythm is None:
            settings = self.settings
            auth = None
            headers = {"Accept": "application/json"}
            if settings.auth == "gitlab":
                headers["X-Token"] = self._clear(settings.token)
            elif settings.auth == "ldap":
                auth = (settings.username, self._clear(settings.password))
            self._rhythm = Rhythm(settings.url, what="Rhythm", auth=auth, headers=headers, **self._tls())
        return self._rhythm

    @property
    def files(self) -> MesosFiles:
        if self._files is None:
            settings = self.settings
            if not settings.mesos_master_url:
                raise DriverError("no mesos_master_url in the execution's driver_config: logs cannot be read")
            auth = None
            if settings.mesos_username:
                auth = (settings.mesos_username, self._clear(settings.mesos_password))
            master = Http(str(settings.mesos_master_url), what="Mesos", auth=auth, headers={}, **self._tls())
            self._files = MesosFiles(master)
        return self._files

    # --- specs ---------------------------------------------------------------------------------------------------

    @classmethod
    def validate_spec(cls, spec: Mapping[str, Any]) -> None:
        """What Rhythm or the Mesos agent would refuse: fields, cron (Rhythm's dialect), resources, container, user."""
        translate.validate(spec, ZoneInfo("UTC"))

    @classmethod
    def next_launches(cls, spec: Mapping[str, Any], *, count: int, after: datetime | None = None) -> list[datetime]:
        """Launches of ``schedule.cron`` in ``schedule.timezone`` (UTC by default); [] for a spec it cannot read."""
        try:
            schedule_spec = translate.folded(spec).get("schedule")
            if not isinstance(schedule_spec, Mapping):
                return []
            schedule = cron.parse(translate.folded(schedule_spec).get("cron"))
            zone = translate.spec_zone(spec, ZoneInfo("UTC"))
        except (cron.CronError, SpecError, AttributeError, TypeError):
            return []
        return cron.next_launches(schedule, after=after or datetime.now(tz=UTC), zone=zone, count=count)

    # --- jobs --------------------------------------------------------------------------------------------------

    def external_id(self, job_id: str, spec: Mapping[str, Any] | None = None) -> str:
        return f"{self.prefix}{job_id}"

    def _fqid(self, external_id: str) -> str:
        return f"{self.settings.group}:{self.settings.project}:{external_id}"

    def _path(self, job_id: str = "", *, external: bool = False) -> str:
        rhythm_id = job_id if external or not job_id else self.external_id(job_id)
        return self.rhythm.job_path(self.settings.group, self.settings.project, rhythm_id)

    def job_body(self, *, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> dict[str, Any]:
        """The body of a create or a full update: every field, striv's meta and name among the labels."""
        try:
            translate.validate(spec, self.zone)
        except SpecError as exc:
            raise DriverError(f"the rendered spec is not a valid Rhythm job: {exc.message}") from None
        zone = translate.spec_zone(spec, self.zone)
        if zone.key != self.zone.key:
            raise DriverError(
                f"schedule.timezone is {zone.key} but the execution says Rhythm runs in {self.zone.key} (time_zone)"
            )
        return translate.job_body(spec, {**meta, "striv_name": name})

    def read(self, *, job_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.rhythm.read(self._path(job_id), f"read job {job_id}", missing_ok=True)
        return result

    def push(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PushResult:
        """Create the job, or replace every field of the existing one (a PUT merges only the fields it gets).

        Rhythm runs a newly created job at once (its last start is the zero time)."""
        body = self.job_body(name=name, spec=spec, meta=meta)
        external_id = self.external_id(job_id)
        live = self.read(job_id=job_id)
        if live is None:
            create = {**body, "group": self.settings.group, "project": self.settings.project, "id": external_id}
            self.rhythm.write("POST", "/api/v1/jobs", f"create job {external_id}", create)
            return PushResult(external_id=external_id, changed=True)
        if translate.live_body(live) == body:
            return PushResult(external_id=external_id, changed=False)
        self.rhythm.write("PUT", self._path(job_id), f"update job {external_id}", body)
        return PushResult(external_id=external_id, changed=True)

    def plan(self, *, job_id: str, name: str, spec: Mapping[str, Any], meta: Mapping[str, str]) -> PlanResult:
        body = self.job_body(name=name, spec=spec, meta=meta)
        live = self.read(job_id=job_id)
        if live is None:
            return PlanResult(changed=True, diff_text=f"+ job {self.external_id(job_id)} (new)", raw={"body": body})
        current = translate.live_body(live)
        lines = [
            f"~ {key}: {current.get(key)!r} -> {value!r}" for key, value in body.items() if current.get(key) != value
        ]
        return PlanResult(changed=bool(lines), diff_text="\n".join(lines), raw={"body": body, "live": live})

    def remove(self, *, job_id: str) -> None:
        """Delete the job and its task history (a running task is not killed; Rhythm cannot kill)."""
        self.rhythm.write("DELETE", self._path(job_id), f"delete job {self.external_id(job_id)}")

    def run_now(self, *, job_id: str) -> RunNowResult:
        """Queue a run; refused while one is queued or in progress, as Rhythm would start a second task."""
        external_id = self.external_id(job_id)
        live = self.read(job_id=job_id)
        if live is None:
            raise DriverError(f"job {external_id} is not on Rhythm; push it first", status=404)
        if live.get("State") in BUSY_STATES:
            raise DriverError(
                f"job {external_id} already has a run {str(live['State']).lower()} "
                f"({live.get('CurrentTaskID')}); Rhythm would start a second one",
                status=409,
            )
        self.rhythm.write("POST", self._path(job_id) + "/run", f"run job {external_id} now")
        # Rhythm names no run: the task appears as the job's CurrentTaskID once an offer is taken.
        return RunNowResult(external_id="", eval_id="queued (Rhythm launches it on its next offer)")

    def health(self) -> Health:
        try:
            info = self.rhythm.read("/api/v1/health", "read its health")
            # Listing calls hide an unreadable project; reading the project proves the credentials.
            self.rhythm.read(self._path(), f"list the jobs of {self.settings.group}/{self.settings.project}")
        except DriverError as exc:
            return Health(ok=False, detail=exc.message)
        if not info.get("Leader"):
            return Health(ok=False, detail=f"Rhythm {info.get('Version', '?')} answers but is not the leader")
        return Health(ok=True, detail=f"Rhythm {info.get('Version', '?')}, leader, {info.get('ServerTime', '')}")

    # --- runs ----------------------------------------------------------------------------------------------------

    def job_ref(self, external_job_id: str, prefixes: Sequence[str]) -> str | None:
        """A Rhythm job ID, a ``group:project:id`` or a task ID ``group:project:id:uuid`` -> striv's job id."""
        parts = external_job_id.split(":")
        rhythm_id = parts[2] if len(parts) >= 3 else external_job_id
        for prefix in sorted(prefixes, key=len, reverse=True):
            if rhythm_id.startswith(prefix):
                return rhythm_id[len(prefix) :] or None
        return None

    def runs_index(self) -> int:
        """Rhythm has no change index: 0, so every refresh reads the project's jobs and their tasks."""
        return 0

    def _jobs(self, prefixes: Sequence[str]) -> list[tuple[dict[str, Any], str]]:
        jobs = self.rhythm.read(self._path(), "list jobs") or []
        found = []
        for job in jobs:
            ref = self.job_ref(str(job.get("ID", "")), prefixes)
            if ref:
                found.append((job, ref))
        return found

    def _records(self, job: Mapping[str, Any]) -> list[dict[str, Any]]:
        rhythm_id = str(job.get("ID", ""))
        result: list[dict[str, Any]] = self.rhythm.read(
            self._path(rhythm_id, external=True) + "/tasks", f"read the tasks of job {rhythm_id}"
        )
        return result or []

    def runs_new(self, *, after: int, prefixes: Sequence[str]) -> Iterator[RunInfo]:
        """Finished runs whose End (ms, the creation marker) is past ``after`` less LOOKBACK_MS, newest first; Rhythm
        keeps them about 24 hours. Runs seen again are updated in place, so the overlap costs nothing but reading."""
        infos: list[RunInfo] = []
        for job, ref in self._jobs(prefixes):
            fqid = self._fqid(str(job["ID"]))
            for record in self._records(job):
                info = translate.record_run(fqid, record, ref, int(job.get("MaxRetries") or 0))
                if info.create_index > after - LOOKBACK_MS:
                    infos.append(info)
        infos.sort(key=lambda info: info.create_index, reverse=True)
        yield from infos

    def runs_active(self, *, prefixes: Sequence[str]) -> list[RunInfo]:
        active = []
        for job, ref in self._jobs(prefixes):
            info = translate.active_run(job, ref)
            if info is not None:
                active.append(info)
        return active

    def _task_job(self, run_ref: str) -> tuple[str, str]:
        """(Rhythm job ID, FQID) of a run's external id, a task ID or a launch error's id."""
        parts = run_ref.split(":")
        if len(parts) < 4:
            raise DriverError(f"{run_ref} is not a Rhythm task ID", status=404)
        return parts[2], ":".join(parts[:3])

    def run_read(self, *, run_ref: str, prefixes: Sequence[str]) -> RunInfo | None:
        rhythm_id, fqid = self._task_job(run_ref)
        ref = self.job_ref(rhythm_id, prefixes)
        if ref is None:
            return None
        job = self.rhythm.read(self._path(rhythm_id, external=True), f"read job {rhythm_id}", missing_ok=True)
        if job is None:
            return None
        if job.get("CurrentTaskID") == run_ref:
            return translate.active_run(job, ref)
        for record in self._records(job):
            if translate.record_id(fqid, record) == run_ref:
                return translate.record_run(fqid, record, ref, int(job.get("MaxRetries") or 0))
        return None

    def fetch_logs(
        self, *, run_ref: str, task: str, stream: str, offset: int = 0, max_bytes: int | None = None
    ) -> LogChunk:
        """A slice of the run's ``stdout`` or ``stderr`` from its Mesos sandbox (see ``files``)."""
        rhythm_id, fqid = self._task_job(run_ref)
        if f":{translate.LAUNCH_ERROR}:" in run_ref:
            raise DriverError("no logs: Rhythm could not launch this run", status=404)
        location = None
        for record in self._records({"ID": rhythm_id}):
            if record.get("TaskID") == run_ref and record.get("AgentID"):
                executor = record.get("ExecutorID") or run_ref  # empty in records the master made
                location = (record["AgentID"], record.get("FrameworkID") or "", executor)
        if location is None or not location[1]:
            found = self.files.task_location(run_ref)
            if found is None:
                raise DriverError(f"logs expired: neither Rhythm nor Mesos knows task {run_ref}", status=404)
            location = (found[0], found[1], run_ref)
        agent_id, framework_id, executor_id = location
        return self.files.read(
            agent_id=agent_id,
            framework_id=framework_id,
            executor_id=executor_id,
            stream=stream,
            offset=offset,
            max_bytes=max_bytes,
        )
