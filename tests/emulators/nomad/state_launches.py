"""Periodic launches, dispatches, evaluations and placements, and the server GC, in the state store."""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping
from typing import Any

from tests.emulators.nomad.helpers import NomadEmulatorError, _now_ns, _uuid
from tests.emulators.nomad.records import _Alloc, _Eval, _Job


class _LaunchTables:
    """Periodic launches, evaluations, placement and GC; part of `_State`."""

    # periodic launches -----------------------------------------------------------------------------------------

    def force(self, namespace: str, job_id: str) -> dict[str, Any]:
        """Force a periodic launch now; returns PeriodicForceResponse, raises NomadEmulatorError (500)."""
        job = self.jobs.get((namespace, job_id))
        if job is None:
            raise NomadEmulatorError(500, "job not found")
        if not job.is_periodic:
            raise NomadEmulatorError(500, "can't force launch non-periodic job")
        if job.stop or not job.spec["Periodic"].get("Enabled"):
            raise NomadEmulatorError(
                500,
                f'force launch for job "{job_id}" failed: can\'t force run non-tracked job "{job_id}" ({namespace})',
            )
        child, evaluation = self.derive_child(job, int(time.time()))
        return {"EvalID": evaluation.id, "EvalCreateIndex": evaluation.create_index, "Index": evaluation.create_index}

    def dispatch(self, namespace: str, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Dispatch ``<parent>/dispatch-<unix>-<8 hex>`` of a parameterized job; returns JobDispatchResponse."""
        job = self.jobs.get((namespace, job_id))
        if job is None:
            raise NomadEmulatorError(500, "parameterized job not found")
        if not job.is_parameterized:
            raise NomadEmulatorError(500, f'Specified job "{job_id}" is not a parameterized job')
        if job.stop:
            raise NomadEmulatorError(500, f'Specified job "{job_id}" is stopped')
        payload = body.get("Payload") or None
        parameterized = job.spec.get("ParameterizedJob") or {}
        rule = parameterized.get("Payload") or "optional"
        if payload and rule == "forbidden":
            raise NomadEmulatorError(500, "Payload is not allowed")
        if not payload and rule == "required":
            raise NomadEmulatorError(500, "Payload is not provided but required")
        given = set(body.get("Meta") or {})
        required, optional = set(parameterized.get("MetaRequired") or ()), set(parameterized.get("MetaOptional") or ())
        if given - required - optional:
            keys = " ".join(sorted(given - required - optional))
            raise NomadEmulatorError(500, f"Dispatch request included unpermitted metadata keys: [{keys}]")
        if required - given:
            missing = " ".join(sorted(required - given))
            raise NomadEmulatorError(500, f"Dispatch did not provide required meta keys: [{missing}]")
        now = int(time.time())
        child_id = f"{job.id}/dispatch-{now}-{_uuid()[:8]}"
        index = self._bump("jobs", "evals")
        meta = {**(job.spec.get("Meta") or {}), **(body.get("Meta") or {})}
        spec = dict(job.spec, ParameterizedJob=None, Dispatched=True, Payload=payload, Meta=meta or None)
        child = _Job(
            namespace=namespace,
            id=child_id,
            spec=spec,
            version=0,
            stop=False,
            submit_time=_now_ns(),
            create_index=index,
            modify_index=index,
            job_modify_index=index,
            parent_id=job.id,
            launch_time=now,
        )
        self.store_job(child)
        child.status = self.compute_status(child)
        self.emit_job(child, "JobRegistered", index)
        evaluation = self._new_eval(child, "job-register", index, 0)
        self._place(child, evaluation)
        self.refresh_status(child.key, self.index, "PlanResult")
        self.commit()
        return {
            "Index": evaluation.create_index,
            "JobCreateIndex": index,
            "EvalCreateIndex": evaluation.create_index,
            "EvalID": evaluation.id,
            "DispatchedJobID": child_id,
        }

    def derive_child(self, parent: _Job, launch: int) -> tuple[_Job, _Eval]:
        """Create (or update) ``<parent>/periodic-<launch>`` with an eval and placed allocs; returns both."""
        child_id = f"{parent.id}/periodic-{launch}"
        key = (parent.namespace, child_id)
        existing = self.jobs.get(key)
        index = self._bump("jobs", "evals")
        if existing is None or existing.spec is not parent.spec or existing.stop:
            job = _Job(
                namespace=parent.namespace,
                id=child_id,
                spec=parent.spec,
                version=existing.version + 1 if existing else 0,
                stop=False,
                submit_time=_now_ns(),
                create_index=existing.create_index if existing else index,
                modify_index=index,
                job_modify_index=index,
                parent_id=parent.id,
                launch_time=launch,
            )
            self.store_job(job)
            job.status = self.compute_status(job)
            self.emit_job(job, "JobRegistered", index)
        else:
            job = existing
        evaluation = self._new_eval(job, "periodic-job", index, 0)
        self._place(job, evaluation)
        self.refresh_status(key, self.index, "PlanResult")
        self.commit()
        return job, evaluation

    def last_launch(self, parent: _Job) -> int:
        """Return the newest child launch time (Unix seconds) of a periodic parent, 0 without children."""
        ids = self.children.get(parent.key, {})
        times = [self.jobs[(parent.namespace, c)].launch_time for c in ids if (parent.namespace, c) in self.jobs]
        return max(times, default=0)

    def running_children(self, parent: _Job) -> bool:
        """Return True when a child of the parent is not dead (what ProhibitOverlap checks)."""
        for child_id in self.children.get(parent.key, {}):
            child = self.jobs.get((parent.namespace, child_id))
            if child is not None and child.status != "dead":
                return True
        return False

    # evals and allocs ------------------------------------------------------------------------------------------

    def _new_eval(self, job: _Job, triggered_by: str, index: int, priority: int) -> _Eval:
        now = _now_ns()
        evaluation = _Eval(
            id=_uuid(),
            namespace=job.namespace,
            job_id=job.id,
            job_type=job.spec["Type"],
            priority=priority or job.spec["Priority"],
            triggered_by=triggered_by,
            job_modify_index=job.job_modify_index,
            create_index=index,
            modify_index=index,
            create_time=now,
            modify_time=now,
            status="complete",
            queued={g["Name"]: 0 for g in job.spec.get("TaskGroups") or []},
        )
        self.evals[evaluation.id] = evaluation
        self.evals_by_job.setdefault(job.key, []).append(evaluation)
        self._touch(index, "evals")
        return evaluation

    def _place(self, job: _Job, evaluation: _Eval) -> list[_Alloc]:
        """Place one alloc per group count, as the scheduler would, unless the job still has wanted allocs.

        Allocs of a stopped job (desired ``stop``) do not count, so re-running a stopped job places new ones;
        a batch alloc that completed does count, as the batch scheduler never re-runs successful work.
        """
        if any(a.desired_status == "run" for a in self.allocs_by_job.get(job.key, ())):
            return []
        groups = job.spec.get("TaskGroups") or []
        if not any(g["Count"] for g in groups):
            return []
        index = self._bump("allocs", "evals")
        evaluation.modify_index = index
        evaluation.modify_time = _now_ns()
        placed = [
            self._new_alloc(job, evaluation.id, group["Name"], i, index, _now_ns())
            for group in groups
            for i in range(group["Count"])
        ]
        self._insert_allocs(placed)
        for alloc in placed:
            self.emit_alloc(alloc, "PlanResult", index)
        return placed

    def _new_alloc(self, job: _Job, eval_id: str, group: str, number: int, index: int, created: int) -> _Alloc:
        return _Alloc(
            id=_uuid(),
            namespace=job.namespace,
            eval_id=eval_id,
            name=f"{job.id}.{group}[{number}]",
            job_id=job.id,
            job=job,
            task_group=group,
            create_index=index,
            modify_index=index,
            alloc_modify_index=index,
            create_time=created,
            modify_time=created,
            node_id=self.node_id,
            node_name=self.node_name,
        )

    def _insert_allocs(self, allocs: list[_Alloc]) -> None:
        allocs.sort(key=lambda a: a.order_key)
        if self.alloc_order and allocs and allocs[0].order_key < self.alloc_order[-1].order_key:
            for alloc in allocs:  # only when callers create allocs out of index order
                bisect.insort(self.alloc_order, alloc, key=lambda a: a.order_key)
        else:
            self.alloc_order.extend(allocs)
        for alloc in allocs:
            self.allocs[alloc.id] = alloc
            self.allocs_by_job.setdefault((alloc.namespace, alloc.job_id), []).append(alloc)

    def alloc_changed(self, alloc: _Alloc) -> int:
        """Record a client-side update of `alloc`; returns its new ModifyIndex."""
        index = self._bump("allocs")
        alloc.modify_index = index
        alloc.modify_time = _now_ns()
        alloc.stub_json = None
        self.emit_alloc(alloc, "AllocationUpdated", index)
        self.refresh_status((alloc.namespace, alloc.job_id), index, "AllocationUpdated")
        self.commit()
        return index

    def gc(self, job_id: str | None, namespace: str | None) -> list[str]:
        """Garbage-collect dead jobs with their evals, allocs and logs; returns the removed job IDs."""
        doomed = [
            job
            for job in self.jobs.values()
            if job.status == "dead"
            and (namespace is None or job.namespace == namespace)
            and (job_id is None or job.id == job_id or (job.parent_id or job.spec.get("ParentID")) == job_id)
        ]
        doomed_keys = {job.key for job in doomed}
        for job in doomed:
            del self.jobs[job.key]
            parent = job.parent_id if job.parent_id is not None else job.spec.get("ParentID")
            if parent:
                self.children.get((job.namespace, parent), {}).pop(job.id, None)
            if not self.children.get(job.key):
                self.children.pop(job.key, None)
        gone_allocs = [
            a
            for a in self.allocs.values()
            if (a.namespace, a.job_id) in doomed_keys
            or (
                job_id is None
                and a.terminal
                and (a.namespace, a.job_id) not in self.jobs
                and (namespace is None or a.namespace == namespace)
            )
        ]
        gone_evals = [
            e
            for e in self.evals.values()
            if (e.namespace, e.job_id) in doomed_keys
            or (
                job_id is None
                and (e.namespace, e.job_id) not in self.jobs
                and (namespace is None or e.namespace == namespace)
            )
        ]
        if not doomed and not gone_allocs and not gone_evals:
            return []
        tables = ["jobs"] if doomed else []
        tables += ["allocs"] if gone_allocs else []
        tables += ["evals"] if gone_evals else []
        index = self._bump(*tables)
        for job in doomed:
            self.emit_job(job, "JobBatchDeregistered", index)
        for alloc in gone_allocs:
            del self.allocs[alloc.id]
            self.logs.pop(alloc.id, None)
            siblings = self.allocs_by_job.get((alloc.namespace, alloc.job_id))
            if siblings is not None:
                siblings.remove(alloc)
                if not siblings:
                    del self.allocs_by_job[(alloc.namespace, alloc.job_id)]
        if gone_allocs:
            gone_ids = {a.id for a in gone_allocs}
            self.alloc_order = [a for a in self.alloc_order if a.id not in gone_ids]
        for evaluation in gone_evals:
            del self.evals[evaluation.id]
            siblings = self.evals_by_job.get((evaluation.namespace, evaluation.job_id))
            if siblings is not None:
                siblings.remove(evaluation)
                if not siblings:
                    del self.evals_by_job[(evaluation.namespace, evaluation.job_id)]
        self.commit()
        return [job.id for job in doomed]
