"""Job endpoints: list, register, read, summary, deregister, plan, periodic force, dispatch, and a job's
allocations and evaluations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from tests.emulators.nomad.bexpr import BexprEvalError, BexprSyntaxError, bexpr_compile, resolve_in
from tests.emulators.nomad.exchange import _bool_arg, _int_arg, _parse_body, _Request, _Response
from tests.emulators.nomad.helpers import NomadEmulatorError, go_parse_bool
from tests.emulators.nomad.jobspec import _check_decodable
from tests.emulators.nomad.records import _Job


class _JobEndpoints:
    """``/v1/jobs`` and ``/v1/job/:id/...``; part of `_Api`."""

    # jobs ------------------------------------------------------------------------------------------------------

    def jobs_list(self, req: _Request) -> _Response:
        """GET /v1/jobs: job stubs by (namespace, ID); prefix, filter (on the full Job), meta, pages; blocks on jobs."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        with_meta = _bool_arg(req, "meta", False, 400)
        predicate = self.compile_filter(req)
        per_page, next_token = _int_arg(req, "per_page"), req.arg("next_token")
        prefix = req.arg("prefix") or ""
        allowed = self.readable_namespaces(req, namespace, "list-jobs", "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["jobs"])
        with state.lock:
            jobs = sorted(
                (j for j in state.jobs.values() if j.namespace in allowed and j.id.startswith(prefix)),
                key=lambda j: (j.namespace, j.id),
            )
            if next_token:
                token_key = tuple(next_token.split(".", 1)) if "." in next_token else ("", next_token)
                jobs = [j for j in jobs if (j.namespace, j.id) >= token_key]
            page, following = self.paginate(jobs, per_page, predicate, self._job_resolver)
            stubs = [state.job_stub(j, with_meta) for j in page]
            current = max(state.table_index["jobs"], 1)
        extra = {"X-Nomad-NextToken": f"{following.namespace}.{following.id}"} if following else None
        return self.json(req, stubs, index=current, query_meta=True, extra=extra)

    def _job_resolver(self, job: _Job) -> Callable[[list[str]], Any]:
        """Return a bexpr resolver over the full Job (filters on /v1/jobs see the Job, not the stub)."""
        rendered: list[dict[str, Any]] = []

        def resolve(path: list[str]) -> Any:
            if not rendered:
                rendered.append(self.state.render_job(job))
            return resolve_in(rendered[0], path)

        return resolve

    @staticmethod
    def compile_filter(req: _Request) -> Callable | None:
        """Compile ``?filter=``; returns the predicate or None, raises Nomad's 400 for a syntax error."""
        expression = req.arg("filter")
        if not expression:
            return None
        try:
            return bexpr_compile(expression)
        except BexprSyntaxError as exc:
            raise NomadEmulatorError(
                400, f"failed to create result paginator: failed to read filter expression: {exc}"
            ) from exc

    @staticmethod
    def paginate(
        items: Iterable[Any], per_page: int | None, predicate: Callable | None, resolver: Callable[[Any], Callable]
    ) -> tuple[list[Any], Any]:
        """Take up to `per_page` items passing `predicate`; returns (page, first item of the next page or None)."""
        page: list[Any] = []
        for item in items:
            if predicate is not None:
                try:
                    if not predicate(resolver(item)):
                        continue
                except BexprEvalError as exc:
                    raise NomadEmulatorError(400, f"failed to read result page: {exc}") from exc
            if per_page and len(page) >= per_page:
                return page, item
            page.append(item)
        return page, None

    def _register_body(self, req: _Request, path_job_id: str | None) -> tuple[dict, dict, str]:
        body = _parse_body(req)
        job = body.get("Job")
        if job is None:
            raise NomadEmulatorError(400, "Job must be specified")
        _check_decodable(job)
        if job.get("ID") is None:
            raise NomadEmulatorError(400, "Job ID hasn't been provided")
        if path_job_id is not None and job["ID"] != path_job_id:
            raise NomadEmulatorError(400, "Job ID does not match name")
        priority = body.get("EvalPriority")
        if priority and not (isinstance(priority, int) and 1 <= priority <= 100):
            raise NomadEmulatorError(400, "Eval priority must be between 1 and 100 inclusively")
        namespace = req.arg("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
        region = body.get("Region") or job.get("Region")
        if region and region not in ("global", self.state.region):
            raise NomadEmulatorError(500, "No path to region")
        return body, job, namespace

    def job_register(self, req: _Request, path_job_id: str | None = None) -> _Response:
        """POST/PUT /v1/jobs (and /v1/job/:id): register; 400 for bad bodies, 500 for invalid jobs."""
        body, job, namespace = self._register_body(req, path_job_id)
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.register(
                job,
                namespace,
                enforce_index=bool(body.get("EnforceIndex")),
                job_modify_index=int(body.get("JobModifyIndex") or 0),
                eval_priority=body.get("EvalPriority") or 0,
            )
        return self.json(req, response, index=response["Index"], query_meta=True)

    def job_register_named(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id: register, with the body's Job.ID required to equal :id."""
        return self.job_register(req, job_id)

    def job_read(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id: the full Job or 404 ``job not found``; blocks on the job's ModifyIndex."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state

        def current() -> int:
            job = state.jobs.get((namespace, job_id))
            return job.modify_index if job is not None else state.table_index["jobs"]

        self.block(index, wait, current)
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            if job is None:
                raise NomadEmulatorError(404, "job not found")
            rendered = state.render_job(job)
            now = max(current(), 1)
        return self.json(req, rendered, index=now, query_meta=True)

    def job_summary(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/summary: the JobSummary (group counts and children) or 404."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: max(state.table_index["jobs"], state.table_index["allocs"]))
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            if job is None:
                raise NomadEmulatorError(404, "job not found")
            summary = state.job_summary(job)
        return self.json(req, summary, index=max(summary["ModifyIndex"], 1), query_meta=True)

    def job_deregister(self, req: _Request, job_id: str) -> _Response:
        """DELETE /v1/job/:id: stop, or purge with ``purge=true``; a missing job is a 200."""
        namespace = req.arg("namespace") or "default"
        purge = _bool_arg(req, "purge", False, 500)
        _bool_arg(req, "global", False, 500)
        priority_text = req.arg("eval_priority")
        priority = 0
        if priority_text:
            try:
                priority = int(priority_text)
            except ValueError as exc:
                raise NomadEmulatorError(
                    400, f'Failed to parse value of "eval_priority" ({priority_text}) as a int: {exc}'
                ) from exc
            if not 1 <= priority <= 100:
                raise NomadEmulatorError(400, "Eval priority must be between 1 and 100 inclusively")
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.deregister(namespace, job_id, purge, priority)
        return self.json(req, response, index=response["Index"], query_meta=True)

    def job_plan(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/plan: dry run with annotations, optional Diff and NextPeriodicLaunch."""
        body = _parse_body(req)
        job = body.get("Job")
        if job is None:
            raise NomadEmulatorError(400, "Job must be specified")
        _check_decodable(job)
        if not job.get("ID"):
            raise NomadEmulatorError(400, "Job must have a valid ID")
        if job["ID"] != job_id:
            raise NomadEmulatorError(400, "Job ID does not match")
        namespace = req.arg("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
        want_diff = bool(body.get("Diff")) or _bool_arg(req, "diff", False, 400)
        self.require(req, namespace, "submit-job")
        with self.state.lock:
            response = self.state.plan(job, namespace, want_diff)
        return self.json(req, response, index=0)

    def job_force(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/periodic/force: launch a child now; every error is a 500."""
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "dispatch-job", "submit-job")
        with self.state.lock:
            response = self.state.force(namespace, job_id)
        return self.json(req, response, index=response["Index"])

    def job_dispatch(self, req: _Request, job_id: str) -> _Response:
        """POST/PUT /v1/job/:id/dispatch: run a parameterized job once; every refusal is a 500."""
        namespace = req.arg("namespace") or "default"
        body: Any = {}
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError as exc:
                raise NomadEmulatorError(400, f"Request body is invalid: {exc}") from None
        if not isinstance(body, dict):
            raise NomadEmulatorError(400, "Request body is invalid")
        self.require(req, namespace, "dispatch-job")
        with self.state.lock:
            response = self.state.dispatch(namespace, job_id, body)
        return self.json(req, response, index=response["Index"])

    def job_allocations(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/allocations: stubs of this exact job ID ([] when missing); blocks on allocs."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        try:
            include_all = go_parse_bool(req.arg("all") or "false")
        except ValueError:
            include_all = False
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["allocs"])
        with state.lock:
            job = state.jobs.get((namespace, job_id))
            allocs = list(state.allocs_by_job.get((namespace, job_id), ()))
            if job is not None and not include_all:
                allocs = [a for a in allocs if a.job.create_index == job.create_index]
            stubs = [state.alloc_stub(a) for a in sorted(allocs, key=lambda a: a.id)]
            current = max(state.table_index["allocs"], 1)
        return self.json(req, stubs, index=current, query_meta=True)

    def job_evaluations(self, req: _Request, job_id: str) -> _Response:
        """GET /v1/job/:id/evaluations: the job's evaluations; blocks on evals."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        self.require(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["evals"])
        with state.lock:
            evals = [state.render_eval(e) for e in state.evals_by_job.get((namespace, job_id), ())]
            current = max(state.table_index["evals"], 1)
        return self.json(req, evals, index=current, query_meta=True)
