"""Job writes of the state store: status, register, plan, deregister."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.emulators.nomad.cron import periodic_next
from tests.emulators.nomad.diff import job_diff
from tests.emulators.nomad.helpers import SECOND, NomadEmulatorError, _now_ns, multierror, rfc3339nano
from tests.emulators.nomad.jobspec import canonicalize_job, update_rule_error, validate_job
from tests.emulators.nomad.records import _Job, task_kill

_DESIRED_UPDATE_FIELDS = (
    "Ignore",
    "Place",
    "Migrate",
    "Stop",
    "InPlaceUpdate",
    "DestructiveUpdate",
    "Canary",
    "Preemptions",
    "Disconnect",
    "Reconnect",
    "RescheduleNow",
    "RescheduleLater",
)
#: DesiredTGUpdates counters -> the TaskGroupDiff.Updates keys the CLI prints
_UPDATE_LABELS = {
    "Ignore": "ignore",
    "Place": "create",
    "Stop": "destroy",
    "Migrate": "migrate",
    "Canary": "canary",
    "InPlaceUpdate": "in-place update",
    "DestructiveUpdate": "create/destroy update",
}


class _JobTables:
    """Jobs: status, register (with enforce-index), plan and deregister; part of `_State`."""

    # jobs ------------------------------------------------------------------------------------------------------

    def compute_status(self, job: _Job) -> str:
        """Nomad's job status rule: see BEHAVIOUR.md §1 "Status rule"."""
        if job.stop:
            return "dead"
        if job.is_periodic or (job.parent_id is None and job.is_parameterized):
            return "running"
        allocs = self.allocs_by_job.get(job.key, ())
        if any(not a.terminal for a in allocs):
            return "running"
        evals = self.evals_by_job.get(job.key, ())
        if any(e.status in ("pending", "blocked") for e in evals):
            return "pending"
        return "dead" if allocs or evals else "pending"

    def refresh_status(self, key: tuple[str, str], index: int, cause: str | None = None) -> None:
        """Recompute a job's status; a change is a job write at `index` (ModifyIndex and the jobs table move).

        `cause` is the event type of the write that changed it (Nomad labels job events by their raft message).
        """
        job = self.jobs.get(key)
        if job is None:
            return
        status = self.compute_status(job)
        if status != job.status:
            job.status = status
            job.modify_index = index
            self._touch(index, "jobs")
            if cause:
                self.emit_job(job, cause, index)

    def store_job(self, job: _Job) -> None:
        """Store a job version and index it under its parent."""
        self.jobs[job.key] = job
        parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
        if parent:
            self.children.setdefault((job.namespace, parent), {})[job.id] = None

    def register(
        self,
        raw: Mapping[str, Any],
        namespace: str,
        *,
        enforce_index: bool = False,
        job_modify_index: int = 0,
        eval_priority: int = 0,
    ) -> dict[str, Any]:
        """Register (create or update) a job; returns the JobRegisterResponse, raises NomadEmulatorError (500)."""
        job_id = raw.get("ID")
        if namespace not in self.namespaces:
            raise NomadEmulatorError(500, f'job "{job_id}" is in nonexistent namespace "{namespace}"')
        spec = canonicalize_job(raw, namespace=namespace, region=self.region)
        errors = validate_job(spec)
        if errors:
            raise NomadEmulatorError(500, multierror(errors))
        stop = bool(raw.get("Stop"))
        key = (namespace, spec["ID"])
        existing = self.jobs.get(key)
        if existing is not None:
            message = update_rule_error(existing.view(), spec)
            if message:
                raise NomadEmulatorError(500, message)
        if enforce_index:
            self._check_enforce_index(existing, job_modify_index)
        periodic_like = spec.get("Periodic") is not None or spec.get("ParameterizedJob") is not None
        response = {
            "EvalID": "",
            "EvalCreateIndex": 0,
            "JobModifyIndex": 0,
            "Warnings": "",
            "Index": 0,
            "LastContact": 0,
            "KnownLeader": False,
            "NextToken": "",
        }
        if existing is not None and existing.stop == stop and existing.view() == spec:
            # identical resubmission: the job is not written again
            response["JobModifyIndex"] = existing.job_modify_index
            if not periodic_like and not stop:
                index = self._bump("evals")
                evaluation = self._new_eval(existing, "job-register", index, eval_priority)
                self._place(existing, evaluation)
                response.update(EvalID=evaluation.id, EvalCreateIndex=index, Index=index)
                self.refresh_status(key, self.index, "PlanResult")
            self.commit()
            return response
        index = self._bump("jobs")
        job = _Job(
            namespace=namespace,
            id=spec["ID"],
            spec=spec,
            version=existing.version + 1 if existing else 0,
            stop=stop,
            submit_time=_now_ns(),
            create_index=existing.create_index if existing else index,
            modify_index=index,
            job_modify_index=index,
        )
        self.store_job(job)
        job.status = self.compute_status(job)
        self.emit_job(job, "JobRegistered", index)
        response.update(JobModifyIndex=index, Index=index)
        if not periodic_like:
            self._touch(index, "evals")  # the job and its eval are one raft entry
            evaluation = self._new_eval(job, "job-register", index, eval_priority)
            response.update(EvalID=evaluation.id, EvalCreateIndex=index)
            if not stop:
                self._place(job, evaluation)
            else:
                self._stop_allocs(job.key, index, "alloc not needed due to job update")
        self.refresh_status(key, self.index, "PlanResult")
        self.commit()
        return response

    @staticmethod
    def _check_enforce_index(existing: _Job | None, job_modify_index: int) -> None:
        prefix = f"Enforcing job modify index {job_modify_index}"
        if job_modify_index == 0 and existing is not None:
            raise NomadEmulatorError(500, f"{prefix}: job already exists")
        if job_modify_index != 0 and existing is None:
            raise NomadEmulatorError(500, f"{prefix}: job does not exist")
        if existing is not None and job_modify_index != existing.job_modify_index:
            raise NomadEmulatorError(
                500, f"{prefix}: job exists with conflicting job modify index: {existing.job_modify_index}"
            )

    def plan(self, raw: Mapping[str, Any], namespace: str, want_diff: bool) -> dict[str, Any]:
        """Dry-run a registration; returns the JobPlanResponse, raises NomadEmulatorError (500)."""
        if namespace not in self.namespaces:
            raise NomadEmulatorError(500, f'job "{raw.get("ID")}" is in nonexistent namespace "{namespace}"')
        spec = canonicalize_job(raw, namespace=namespace, region=self.region)
        errors = validate_job(spec)
        if errors:
            raise NomadEmulatorError(500, multierror(errors))
        existing = self.jobs.get((namespace, spec["ID"]))
        old_spec = None
        if existing is not None:
            message = update_rule_error(existing.view(), spec)
            if message:
                raise NomadEmulatorError(500, message)
            old_spec = {**existing.view(), "Stop": existing.stop}
        diff = job_diff(old_spec, {**spec, "Stop": bool(raw.get("Stop"))})
        updates: dict[str, dict[str, int]] = {}
        group_diffs = {g["Name"]: g for g in diff["TaskGroups"] or []}
        live = [
            a
            for a in self.allocs_by_job.get((namespace, spec["ID"]), ())
            if a.client_status != "failed" and a.client_status != "lost" and a.desired_status == "run"
        ]
        for group in spec["TaskGroups"]:
            mine = [a for a in live if a.task_group == group["Name"]]
            changed = group_diffs.get(group["Name"], {}).get("Type") == "Edited"
            running = [a for a in mine if not a.terminal]
            counts = dict.fromkeys(_DESIRED_UPDATE_FIELDS, 0)
            counts["Place"] = max(group["Count"] - len(mine), 0)
            if changed:
                counts["DestructiveUpdate"] = min(len(running), group["Count"])
                counts["Ignore"] = min(len(mine) - len(running), group["Count"])
            else:
                counts["Ignore"] = min(len(mine), group["Count"])
            updates[group["Name"]] = counts
        for name, group_diff in group_diffs.items():
            if name in updates:
                counts = updates[name]
                group_diff["Updates"] = {label: counts[k] for k, label in _UPDATE_LABELS.items() if counts[k]} or None
        next_launch = None
        periodic = spec.get("Periodic")
        if periodic and periodic.get("Enabled") and not raw.get("Stop"):
            moment = periodic_next(periodic, datetime.now(UTC))
            if moment is not None:
                next_launch = rfc3339nano(int(moment.timestamp()) * SECOND, moment.tzinfo)
        return {
            "Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": None},
            "FailedTGAllocs": None,
            "JobModifyIndex": existing.job_modify_index if existing else 0,
            "CreatedEvals": None,
            "Diff": diff if want_diff else None,
            "NextPeriodicLaunch": next_launch,
            "Warnings": "",
            "Index": 0,
        }

    def deregister(self, namespace: str, job_id: str, purge: bool, eval_priority: int = 0) -> dict[str, Any]:
        """Stop (or purge) a job; returns the JobDeregisterResponse. A missing job is not an error."""
        response = {
            "EvalID": "",
            "EvalCreateIndex": 0,
            "JobModifyIndex": 0,
            "VolumeEvalID": "",
            "VolumeEvalIndex": 0,
            "Index": 0,
            "LastContact": 0,
            "KnownLeader": False,
            "NextToken": "",
        }
        key = (namespace, job_id)
        job = self.jobs.get(key)
        if job is None:
            return response
        index = self._bump("jobs")
        if purge:
            del self.jobs[key]
            parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
            if parent:
                self.children.get((namespace, parent), {}).pop(job_id, None)
        else:
            stopped = _Job(
                namespace=namespace,
                id=job_id,
                spec=job.spec,
                version=job.version + 1,
                stop=True,
                submit_time=_now_ns(),
                create_index=job.create_index,
                modify_index=index,
                job_modify_index=index,
                status=job.status,
                parent_id=job.parent_id,
                launch_time=job.launch_time,
            )
            self.store_job(stopped)
            stopped.status = self.compute_status(stopped)
        self.emit_job(self.jobs.get(key, job), "JobDeregistered", index)
        response.update(EvalCreateIndex=index, JobModifyIndex=index, Index=index)
        if not (job.is_periodic or (job.parent_id is None and job.is_parameterized)):
            self._touch(index, "evals")
            evaluation = self._new_eval(job, "job-deregister", index, eval_priority)
            response["EvalID"] = evaluation.id
            self._stop_allocs(key, index, "alloc not needed due to job update")
        self.refresh_status(key, index, "JobDeregistered")
        self.commit()
        return response

    def _stop_allocs(self, key: tuple[str, str], index: int, reason: str) -> None:
        """Mark a job's allocs desired-stop; the client then kills the running ones (they end `complete`)."""
        now = _now_ns()
        for alloc in self.allocs_by_job.get(key, ()):
            if alloc.desired_status == "stop":
                continue
            alloc.desired_status, alloc.desired_description = "stop", reason
            alloc.alloc_modify_index = alloc.modify_index = index
            alloc.modify_time = now
            alloc.stub_json = None
            if not alloc.terminal:
                for state in (alloc.task_states or {}).values():
                    if state.state != "dead":
                        task_kill(state, now)
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
            self.emit_alloc(alloc, "AllocationUpdateDesiredStatus", index)
        self._touch(index, "allocs")
