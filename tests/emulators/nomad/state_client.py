"""The client side of the state store: task lifecycles, logs and bulk history."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

from tests.emulators.nomad.helpers import SECOND, _now_ns, _uuid
from tests.emulators.nomad.jobspec import _RESTART_DEFAULTS
from tests.emulators.nomad.records import (
    _EV_KILLED,
    _EV_KILLING,
    _EV_RECEIVED,
    _EV_SETUP,
    _EV_STARTED,
    _Alloc,
    _Eval,
    _Job,
    _not_restarting_extras,
    _restarting_extras,
    _TaskState,
    _terminated_extras,
)


class _ClientSide:
    """The client node: tasks start, finish, write logs; bulk-seeded history; part of `_State`."""

    # client side: task lifecycles ------------------------------------------------------------------------------

    @staticmethod
    def _task_names(alloc: _Alloc, task: str | None) -> list[str]:
        names = [t["Name"] for t in alloc.group_spec().get("Tasks") or []]
        if task is None:
            return names
        if task not in names:
            raise KeyError(f"alloc {alloc.id} has no task {task!r} (tasks: {names})")
        return [task]

    @staticmethod
    def _receive(alloc: _Alloc, names: list[str], at: int) -> None:
        if alloc.task_states is None:
            alloc.task_states = {}
        for name in names:
            if name not in alloc.task_states:
                state = alloc.task_states[name] = _TaskState()
                state.add("Received", at, _EV_RECEIVED)
                state.add("Task Setup", at + 100_000_000, _EV_SETUP)

    @staticmethod
    def _start(state: _TaskState, at: int) -> None:
        if state.state == "pending":
            state.add("Started", at, _EV_STARTED)
            state.state, state.started_at = "running", at

    @staticmethod
    def _finish(
        state: _TaskState,
        at: int,
        failed: bool,
        exit_code: int,
        *,
        signal: int = 0,
        message: str = "",
        oom: bool = False,
        restarts: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> None:
        policy = policy or _RESTART_DEFAULTS["batch"]
        if restarts:
            # squeeze the failed attempts between the last event and `at`, keeping events in time order
            since = state.events[-1][1] if state.events else at - SECOND
            slot = max((at - since) // (restarts + 1), 3)
            for attempt in range(restarts):
                moment = since + slot * (attempt + 1)
                state.add("Terminated", moment - 2, _terminated_extras(exit_code or 1))
                state.add("Restarting", moment - 1, _restarting_extras(policy.get("Delay", 0)))
                state.add("Started", moment, _EV_STARTED)
                state.restarts += 1
                state.last_restart = moment - 1
        state.add("Terminated", at, _terminated_extras(exit_code, signal, message, oom))
        if failed:
            state.add("Not Restarting", at + 1_000_000, _not_restarting_extras(policy))
        state.state, state.failed, state.finished_at = "dead", failed, at + 2_000_000

    @staticmethod
    def _settle(alloc: _Alloc) -> None:
        """Derive the alloc's ClientStatus from its task states, as the client reports it."""
        states = list((alloc.task_states or {}).values())
        if states and all(s.state == "dead" for s in states):
            if any(s.failed for s in states):
                alloc.client_status, alloc.client_description = "failed", "Failed tasks"
            else:
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
        elif any(s.state != "pending" for s in states):
            alloc.client_status, alloc.client_description = "running", "Tasks are running"
        else:
            alloc.client_status, alloc.client_description = "pending", "No tasks have started"

    def alloc_disconnect(self, alloc: _Alloc) -> None:
        """The alloc's client disconnects (``disconnect``/``max_client_disconnect`` set): ``unknown``, still running."""
        alloc.client_status, alloc.client_description = "unknown", "alloc is unknown since its node is disconnected"
        self.alloc_changed(alloc)

    def alloc_reconnect(self, alloc: _Alloc) -> None:
        """The client reconnects: its alloc is ``running`` again (its tasks never stopped)."""
        alloc.client_status, alloc.client_description = "running", "Tasks are running"
        self.alloc_changed(alloc)

    def alloc_run(self, alloc: _Alloc, task: str | None) -> None:
        """Client side: receive the alloc and start its tasks (or one); the alloc becomes running."""
        names = self._task_names(alloc, task)
        now = _now_ns()
        self._receive(alloc, self._task_names(alloc, None), now - 500_000_000)
        for name in names:
            self._start(alloc.task_states[name], now)
        self._settle(alloc)
        self.alloc_changed(alloc)

    def alloc_finish(
        self,
        alloc: _Alloc,
        status: str,
        task: str | None,
        exit_code: int | None,
        *,
        signal: int = 0,
        message: str = "",
        oom: bool = False,
        restarts: int = 0,
    ) -> None:
        """Client side: end tasks with `status` (complete/failed) or mark the alloc lost."""
        if status not in ("complete", "failed", "lost"):
            raise ValueError(f"status must be complete, failed or lost, not {status!r}")
        now = _now_ns()
        if status == "lost":
            alloc.client_status = "lost"
            alloc.client_description = "alloc is lost since its node is down"
            alloc.desired_status, alloc.desired_description = "stop", "alloc is lost since its node is down"
            alloc.alloc_modify_index = self.index + 1
            self.alloc_changed(alloc)
            return
        names = self._task_names(alloc, task)
        self._receive(alloc, self._task_names(alloc, None), now - 2 * SECOND)
        failed = status == "failed"
        code = (1 if failed else 0) if exit_code is None else exit_code
        group_restart = alloc.group_spec().get("RestartPolicy")
        for name in names:
            state = alloc.task_states[name]
            self._start(state, now - SECOND)
            if state.state != "dead":
                self._finish(
                    state,
                    now,
                    failed,
                    code,
                    signal=signal,
                    message=message,
                    oom=oom,
                    restarts=restarts,
                    policy=group_restart,
                )
        if failed:
            for state in alloc.task_states.values():
                if state.state != "dead":  # a failed task takes its siblings down with it
                    state.add(
                        "Sibling Task Failed",
                        now + 1_000_000,
                        {
                            "FailedSibling": names[0],
                            "DisplayMessage": f'Task\'s sibling "{names[0]}" failed',
                            "Details": {"failed_sibling": names[0]},
                        },
                    )
                    state.add("Killing", now + 2_000_000, _EV_KILLING)
                    state.add("Killed", now + 3_000_000, _EV_KILLED)
                    state.state, state.finished_at = "dead", now + 3_000_000
        self._settle(alloc)
        self.alloc_changed(alloc)

    def append_log(self, alloc: _Alloc, task: str, stream: str, data: bytes) -> None:
        """Append bytes to a task's stdout/stderr and wake log followers."""
        if stream not in ("stdout", "stderr"):
            raise ValueError("stream must be stdout or stderr")
        self._task_names(alloc, task)
        self.logs.setdefault(alloc.id, {}).setdefault((task, stream), bytearray()).extend(data)
        self.commit()

    # bulk history ----------------------------------------------------------------------------------------------

    def seed_runs(
        self, parent: _Job, times: list[int], status: str, *, exit_code: int | None, stdout: bytes, stderr: bytes
    ) -> list[str]:
        """Create finished (or pending/running) periodic children in bulk; returns their IDs.

        Each run is one raft index: child job, eval and allocs together. No scans: O(runs * allocs per run).
        """
        if status not in ("pending", "running", "complete", "failed", "lost"):
            raise ValueError(f"unknown status {status!r}")
        groups = parent.spec.get("TaskGroups") or []
        failed = status == "failed"
        code = (1 if failed else 0) if exit_code is None else exit_code
        children = self.children.setdefault(parent.key, {})
        created: list[str] = []
        new_allocs: list[_Alloc] = []
        collecting = gc.isenabled()
        gc.disable()  # creating 100k rows of small objects triggers many useless cyclic collections
        try:
            self._seed_loop(parent, times, status, groups, failed, code, stdout, stderr, children, created, new_allocs)
        finally:
            if collecting:
                gc.enable()
        # seeded allocs carry fresh, increasing indexes, so they always belong at the end
        self.alloc_order.extend(new_allocs)
        self.commit()
        return created

    def _seed_loop(
        self,
        parent: _Job,
        times: list[int],
        status: str,
        groups: list[dict[str, Any]],
        failed: bool,
        code: int,
        stdout: bytes,
        stderr: bytes,
        children: dict[str, None],
        created: list[str],
        new_allocs: list[_Alloc],
    ) -> None:
        for launch in times:
            if (parent.namespace, f"{parent.id}/periodic-{launch}") in self.jobs:
                raise ValueError(f"{parent.id}/periodic-{launch} exists already; seed runs at other times")
            index = self._bump("jobs", "evals", "allocs")
            base = launch * SECOND
            child_id = f"{parent.id}/periodic-{launch}"
            job = _Job(
                namespace=parent.namespace,
                id=child_id,
                spec=parent.spec,
                version=0,
                stop=False,
                submit_time=base,
                create_index=index,
                modify_index=index,
                job_modify_index=index,
                parent_id=parent.id,
                launch_time=launch,
            )
            self.jobs[job.key] = job
            children[child_id] = None
            evaluation = _Eval(
                id=_uuid(),
                namespace=job.namespace,
                job_id=child_id,
                job_type=parent.spec["Type"],
                priority=parent.spec["Priority"],
                triggered_by="periodic-job",
                job_modify_index=index,
                create_index=index,
                modify_index=index,
                create_time=base,
                modify_time=base,
                queued={g["Name"]: 0 for g in groups},
            )
            self.evals[evaluation.id] = evaluation
            self.evals_by_job[job.key] = [evaluation]
            allocs = []
            for group in groups:
                for number in range(group["Count"]):
                    alloc = self._new_alloc(job, evaluation.id, group["Name"], number, index, base + 50_000_000)
                    self._seed_states(alloc, group, status, base, failed, code)
                    alloc.modify_time = base + 6 * SECOND if status != "pending" else alloc.create_time
                    allocs.append(alloc)
                    if stdout or stderr:
                        for task in group.get("Tasks") or []:
                            if stdout:
                                self.logs.setdefault(alloc.id, {})[(task["Name"], "stdout")] = bytearray(stdout)
                            if stderr:
                                self.logs.setdefault(alloc.id, {})[(task["Name"], "stderr")] = bytearray(stderr)
            allocs.sort(key=lambda a: a.order_key)
            new_allocs.extend(allocs)
            for alloc in allocs:
                self.allocs[alloc.id] = alloc
            if allocs:
                self.allocs_by_job[job.key] = allocs
            job.status = self.compute_status(job)
            created.append(child_id)

    def _seed_states(
        self, alloc: _Alloc, group: Mapping[str, Any], status: str, base: int, failed: bool, code: int
    ) -> None:
        if status == "pending":
            return
        names = [t["Name"] for t in group.get("Tasks") or []]
        self._receive(alloc, names, base + 100_000_000)
        for name in names:
            self._start(alloc.task_states[name], base + SECOND)
            if status in ("complete", "failed"):
                self._finish(
                    alloc.task_states[name], base + 5 * SECOND, failed, code, policy=group.get("RestartPolicy")
                )
        self._settle(alloc)
        if status == "lost":
            alloc.client_status = "lost"
            alloc.client_description = "alloc is lost since its node is down"
            alloc.desired_status, alloc.desired_description = "stop", "alloc is lost since its node is down"
