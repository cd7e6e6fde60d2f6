"""Rendering of the state store's rows as Nomad's API returns them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.emulators.nomad.bexpr import resolve_in
from tests.emulators.nomad.helpers import _json_str, rfc3339nano
from tests.emulators.nomad.jobspec import JOB_FIELDS
from tests.emulators.nomad.records import _ALLOC_ATTRIBUTES, _Alloc, _Eval, _Job, _task_states_json, render_event


class _Rendering:
    """Jobs, summaries, evaluations and allocations as the API renders them; part of `_State`."""

    # rendering -------------------------------------------------------------------------------------------------

    def render_job(self, job: _Job) -> dict[str, Any]:
        """Render a job as ``GET /v1/job/:id`` does."""
        spec = job.view()
        server = {
            "Stop": job.stop,
            "Status": job.status,
            "StatusDescription": "",
            "Stable": False,
            "Version": job.version,
            "SubmitTime": job.submit_time,
            "CreateIndex": job.create_index,
            "ModifyIndex": job.modify_index,
            "JobModifyIndex": job.job_modify_index,
        }
        return {key: server[key] if key in server else spec.get(key) for key in JOB_FIELDS}

    def job_summary(self, job: _Job) -> dict[str, Any]:
        """Return the JobSummary: per-group alloc counts and, for parents, children by status."""
        summary = {
            g["Name"]: {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0}
            for g in job.spec.get("TaskGroups") or []
        }
        modify = job.create_index
        for alloc in self.allocs_by_job.get(job.key, ()):
            counts = summary.setdefault(
                alloc.task_group,
                {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0},
            )
            bucket = {
                "pending": "Starting",
                "running": "Running",
                "complete": "Complete",
                "failed": "Failed",
                "lost": "Lost",
                "unknown": "Unknown",
            }[alloc.client_status]
            counts[bucket] += 1
            modify = max(modify, alloc.modify_index)
        children = {"Pending": 0, "Running": 0, "Dead": 0}
        for child_id in self.children.get(job.key, {}):
            child = self.jobs.get((job.namespace, child_id))
            if child is not None:
                children[child.status.capitalize()] = children.get(child.status.capitalize(), 0) + 1
                modify = max(modify, child.modify_index)
        return {
            "JobID": job.id,
            "Namespace": job.namespace,
            "Summary": summary,
            "Children": children,
            "CreateIndex": job.create_index,
            "ModifyIndex": max(modify, job.modify_index),
        }

    def job_stub(self, job: _Job, with_meta: bool) -> dict[str, Any]:
        """Render a JobListStub (Periodic/ParameterizedJob as booleans, Meta only when asked and set)."""
        spec = job.view()
        stub = {
            "ID": job.id,
            "ParentID": spec.get("ParentID") or "",
            "Name": spec["Name"],
            "Namespace": job.namespace,
            "Datacenters": spec["Datacenters"],
            "NodePool": spec["NodePool"],
            "Multiregion": spec.get("Multiregion"),
            "Type": spec["Type"],
            "Priority": spec["Priority"],
            "Periodic": spec.get("Periodic") is not None,
            "ParameterizedJob": spec.get("ParameterizedJob") is not None,
            "Stop": job.stop,
            "Status": job.status,
            "StatusDescription": "",
            "JobSummary": self.job_summary(job),
            "CreateIndex": job.create_index,
            "ModifyIndex": job.modify_index,
            "JobModifyIndex": job.job_modify_index,
            "SubmitTime": job.submit_time,
        }
        if with_meta and spec.get("Meta"):
            stub["Meta"] = spec["Meta"]
        return stub

    def render_eval(self, evaluation: _Eval) -> dict[str, Any]:
        """Render a full Evaluation."""
        return {
            "ID": evaluation.id,
            "Namespace": evaluation.namespace,
            "Priority": evaluation.priority,
            "Type": evaluation.job_type,
            "TriggeredBy": evaluation.triggered_by,
            "JobID": evaluation.job_id,
            "JobModifyIndex": evaluation.job_modify_index,
            "NodeID": "",
            "NodeModifyIndex": 0,
            "DeploymentID": "",
            "Status": evaluation.status,
            "StatusDescription": "",
            "Wait": 0,
            "WaitUntil": None,
            "NextEval": "",
            "PreviousEval": "",
            "BlockedEval": "",
            "RelatedEvals": None,
            "FailedTGAllocs": None,
            "ClassEligibility": None,
            "QuotaLimitReached": "",
            "EscapedComputedClass": False,
            "AnnotatePlan": False,
            "QueuedAllocations": dict(evaluation.queued or {}),
            "LeaderACL": "",
            "SnapshotIndex": evaluation.create_index,
            "CreateIndex": evaluation.create_index,
            "ModifyIndex": evaluation.modify_index,
            "CreateTime": evaluation.create_time,
            "ModifyTime": evaluation.modify_time,
        }

    @staticmethod
    def render_task_states(alloc: _Alloc) -> dict[str, Any] | None:
        """Render TaskStates (null until the client has reported the alloc)."""
        if alloc.task_states is None:
            return None
        return {
            name: {
                "State": ts.state,
                "Failed": ts.failed,
                "Restarts": ts.restarts,
                "LastRestart": rfc3339nano(ts.last_restart),
                "StartedAt": rfc3339nano(ts.started_at),
                "FinishedAt": rfc3339nano(ts.finished_at),
                "Events": [render_event(e) for e in ts.events],
            }
            for name, ts in alloc.task_states.items()
        }

    def allocated_resources(self, alloc: _Alloc) -> dict[str, Any]:
        """Render AllocatedResources from the alloc's group spec."""
        group = alloc.group_spec()
        tasks = {}
        for task in group.get("Tasks") or []:
            resources = task.get("Resources") or {}
            tasks[task["Name"]] = {
                "Cpu": {"CpuShares": resources.get("CPU", 0), "ReservedCores": None},
                "Memory": {"MemoryMB": resources.get("MemoryMB", 0), "MemoryMaxMB": resources.get("MemoryMaxMB", 0)},
                "Networks": None,
                "Devices": None,
            }
        return {
            "Tasks": tasks,
            "TaskLifecycles": {name: None for name in tasks},
            "Shared": {"Networks": None, "DiskMB": (group.get("EphemeralDisk") or {}).get("SizeMB", 0), "Ports": None},
        }

    def alloc_stub(self, alloc: _Alloc, task_states: bool = True, resources: bool = False) -> dict[str, Any]:
        """Render an AllocListStub; `task_states`/`resources` follow the query parameters."""
        stub = {
            "ID": alloc.id,
            "EvalID": alloc.eval_id,
            "Name": alloc.name,
            "Namespace": alloc.namespace,
            "NodeID": alloc.node_id,
            "NodeName": alloc.node_name,
            "JobID": alloc.job_id,
            "JobType": alloc.job.spec["Type"],
            "JobVersion": alloc.job.version,
            "TaskGroup": alloc.task_group,
        }
        if resources:
            stub["AllocatedResources"] = self.allocated_resources(alloc)
        stub.update(
            {
                "DesiredStatus": alloc.desired_status,
                "DesiredDescription": alloc.desired_description,
                "ClientStatus": alloc.client_status,
                "ClientDescription": alloc.client_description,
                "DesiredTransition": {
                    "Migrate": None,
                    "Reschedule": None,
                    "ForceReschedule": None,
                    "NoShutdownDelay": None,
                    "MigrateDisablePlacement": None,
                },
                "TaskStates": self.render_task_states(alloc) if task_states else None,
                "DeploymentStatus": None,
                "FollowupEvalID": "",
                "NextAllocation": "",
                "RescheduleTracker": None,
                "PreemptedAllocations": None,
                "PreemptedByAllocation": "",
                "CreateIndex": alloc.create_index,
                "ModifyIndex": alloc.modify_index,
                "CreateTime": alloc.create_time,
                "ModifyTime": alloc.modify_time,
            }
        )
        return stub

    def alloc_stub_json(self, alloc: _Alloc) -> bytes:
        """Return ``_compact_json(alloc_stub(alloc))`` (task states, no resources), rendered once per change.

        Listing 100,000 allocations would otherwise build and encode every stub on each page; the stub is written
        from fragments instead (the emulator's tests check it against `alloc_stub`, field for field).
        """
        rendered = alloc.stub_json
        if rendered is None:
            text = (
                f'{{"ID":{_json_str(alloc.id)},"EvalID":{_json_str(alloc.eval_id)},"Name":{_json_str(alloc.name)},'
                f'"Namespace":{_json_str(alloc.namespace)},"NodeID":{_json_str(alloc.node_id)},'
                f'"NodeName":{_json_str(alloc.node_name)},"JobID":{_json_str(alloc.job_id)},'
                f'"JobType":{_json_str(alloc.job.spec["Type"])},"JobVersion":{int(alloc.job.version)},'
                f'"TaskGroup":{_json_str(alloc.task_group)},"DesiredStatus":{_json_str(alloc.desired_status)},'
                f'"DesiredDescription":{_json_str(alloc.desired_description)},'
                f'"ClientStatus":{_json_str(alloc.client_status)},'
                f'"ClientDescription":{_json_str(alloc.client_description)},'
                '"DesiredTransition":{"Migrate":null,"Reschedule":null,"ForceReschedule":null,"NoShutdownDelay":null,'
                '"MigrateDisablePlacement":null},'
                f'"TaskStates":{_task_states_json(alloc.task_states)},"DeploymentStatus":null,"FollowupEvalID":"",'
                '"NextAllocation":"","RescheduleTracker":null,"PreemptedAllocations":null,"PreemptedByAllocation":"",'
                f'"CreateIndex":{int(alloc.create_index)},"ModifyIndex":{int(alloc.modify_index)},'
                f'"CreateTime":{int(alloc.create_time)},"ModifyTime":{int(alloc.modify_time)}}}'
            )
            rendered = alloc.stub_json = text.encode()
        return rendered

    def render_alloc(self, alloc: _Alloc) -> dict[str, Any]:
        """Render a full Allocation, with a copy of its job."""
        job = self.render_job(alloc.job)
        current = self.jobs.get((alloc.namespace, alloc.job_id))
        job["Status"] = current.status if current is not None else job["Status"]
        return {
            "ID": alloc.id,
            "Namespace": alloc.namespace,
            "EvalID": alloc.eval_id,
            "Name": alloc.name,
            "NodeID": alloc.node_id,
            "NodeName": alloc.node_name,
            "JobID": alloc.job_id,
            "Job": job,
            "TaskGroup": alloc.task_group,
            "Resources": None,
            "SharedResources": None,
            "TaskResources": None,
            "AllocatedResources": self.allocated_resources(alloc),
            "Metrics": {
                "NodesEvaluated": 1,
                "NodesFiltered": 0,
                "NodesInPool": 1,
                "NodesAvailable": {self.datacenter: 1},
                "ClassFiltered": None,
                "ConstraintFiltered": None,
                "NodesExhausted": 0,
                "ClassExhausted": None,
                "DimensionExhausted": None,
                "QuotaExhausted": None,
                "ResourcesExhausted": None,
                "ScoreMetaData": None,
                "AllocationTime": 125000,
                "CoalescedFailures": 0,
            },
            "DesiredStatus": alloc.desired_status,
            "DesiredDescription": alloc.desired_description,
            "DesiredTransition": {
                "Migrate": None,
                "Reschedule": None,
                "ForceReschedule": None,
                "NoShutdownDelay": None,
                "MigrateDisablePlacement": None,
            },
            "ClientStatus": alloc.client_status,
            "ClientDescription": alloc.client_description,
            "TaskStates": self.render_task_states(alloc),
            "AllocStates": None,
            "PreviousAllocation": "",
            "NextAllocation": "",
            "DeploymentID": "",
            "DeploymentStatus": None,
            "RescheduleTracker": None,
            "NetworkStatus": None,
            "FollowupEvalID": "",
            "PreemptedAllocations": None,
            "PreemptedByAllocation": "",
            "SigningKeyID": "",
            "CreateIndex": alloc.create_index,
            "ModifyIndex": alloc.modify_index,
            "AllocModifyIndex": alloc.alloc_modify_index,
            "CreateTime": alloc.create_time,
            "ModifyTime": alloc.modify_time,
        }

    def alloc_resolver(self, alloc: _Alloc) -> Callable[[list[str]], Any]:
        """Return a bexpr resolver for `alloc`: plain fields directly, anything else through the full JSON."""
        rendered: list[dict[str, Any]] = []

        def resolve(path: list[str]) -> Any:
            if len(path) == 1 and path[0] in _ALLOC_ATTRIBUTES:
                return getattr(alloc, _ALLOC_ATTRIBUTES[path[0]])
            if not rendered:
                rendered.append(self.render_alloc(alloc))
            return resolve_in(rendered[0], path)

        return resolve
