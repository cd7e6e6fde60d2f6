"""Evaluation and allocation endpoints."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tests.emulators.nomad.bexpr import resolve_in
from tests.emulators.nomad.exchange import _bool_arg, _int_arg, _Request, _Response
from tests.emulators.nomad.helpers import NomadEmulatorError, _now_ns
from tests.emulators.nomad.records import _Alloc, task_kill


class _AllocEndpoints:
    """``/v1/evaluation(s)`` and ``/v1/allocation(s)``; part of `_Api`."""

    # evaluations -----------------------------------------------------------------------------------------------

    def object_read(
        self, req: _Request, table: Mapping[str, Any], key: str, index_table: str, render: Callable, missing: str
    ) -> _Response:
        """A blocking read of one evaluation or allocation: its ModifyIndex, or the table's index when missing."""
        index, wait = self.blocking_args(req)
        state = self.state

        def current() -> int:
            item = table.get(key)
            return item.modify_index if item is not None else state.table_index[index_table]

        self.block(index, wait, current)
        with state.lock:
            item = table.get(key)
            if item is None:
                raise NomadEmulatorError(404, missing)
            rendered, namespace, now = render(item), item.namespace, max(current(), 1)
        self.require(req, namespace, "read-job")
        return self.json(req, rendered, index=now, query_meta=True)

    def eval_read(self, req: _Request, eval_id: str) -> _Response:
        """GET /v1/evaluation/:id: one evaluation or 404 ``eval not found``.

        Nomad checks ``read-job`` on the request's namespace (``default`` when none is sent) before it looks the
        evaluation up, then on the evaluation's own: a token scoped to another namespace needs ``?namespace=``.
        """
        self.require(req, req.arg("namespace") or "default", "read-job")
        state = self.state
        return self.object_read(req, state.evals, eval_id, "evals", state.render_eval, "eval not found")

    def eval_allocations(self, req: _Request, eval_id: str) -> _Response:
        """GET /v1/evaluation/:id/allocations: stubs of the allocs an evaluation placed (ACL as `eval_read`)."""
        self.require(req, req.arg("namespace") or "default", "read-job")
        state = self.state
        with state.lock:
            evaluation = state.evals.get(eval_id)
            namespace = evaluation.namespace if evaluation else "default"
            stubs = [state.alloc_stub(a) for a in state.allocs.values() if a.eval_id == eval_id]
            current = max(state.table_index["allocs"], 1)
        self.require(req, namespace, "read-job")
        return self.json(req, stubs, index=current, query_meta=True)

    def evals_list(self, req: _Request) -> _Response:
        """GET /v1/evaluations: evaluations by CreateIndex; prefix, filter, per_page."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        predicate = self.compile_filter(req)
        prefix = req.arg("prefix") or ""
        per_page = _int_arg(req, "per_page")
        allowed = self.readable_namespaces(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["evals"])
        with state.lock:
            evals = sorted(
                (e for e in state.evals.values() if e.namespace in allowed and e.id.startswith(prefix)),
                key=lambda e: (e.create_index, e.id),
            )
            rendered = [state.render_eval(e) for e in evals]
            page, following = self.paginate(rendered, per_page, predicate, lambda e: lambda p: resolve_in(e, p))
            current = max(state.table_index["evals"], 1)
        extra = {"X-Nomad-NextToken": f"{following['CreateIndex']}.{following['ID']}"} if following else None
        return self.json(req, page, index=current, query_meta=True, extra=extra)

    # allocations -----------------------------------------------------------------------------------------------

    def allocs_list(self, req: _Request) -> _Response:
        """GET /v1/allocations: stubs by CreateIndex (by ID with prefix); filter, pages, reverse; blocks."""
        index, wait = self.blocking_args(req)
        namespace = req.arg("namespace") or "default"
        prefix = req.arg("prefix") or ""
        predicate = self.compile_filter(req)
        per_page, next_token = _int_arg(req, "per_page"), req.arg("next_token")
        reverse = req.arg("reverse") == "true"  # Nomad compares the literal string, unlike other booleans
        task_states = _bool_arg(req, "task_states", True, 400)
        resources = _bool_arg(req, "resources", False, 400)
        allowed = self.readable_namespaces(req, namespace, "read-job")
        state = self.state
        self.block(index, wait, lambda: state.table_index["allocs"])
        cached = task_states and not resources and "pretty" not in req.query
        with state.lock:
            page, following = self._alloc_page(allowed, prefix, predicate, per_page, next_token, reverse)
            if cached:
                # A compact JSON array is its items' compact JSON joined by commas: the same bytes, far faster.
                body = b"[" + b",".join([state.alloc_stub_json(a) for a in page]) + b"]"
            else:
                stubs = [state.alloc_stub(a, task_states, resources) for a in page]
            current = max(state.table_index["allocs"], 1)
        extra = None
        if following is not None:
            extra = {"X-Nomad-NextToken": following.id if prefix else f"{following.create_index}.{following.id}"}
        if cached:
            logged = json.loads(body) if self.emulator.record else None
            return self.encoded_json(body, logged, index=current, query_meta=True, extra=extra)
        return self.json(req, stubs, index=current, query_meta=True, extra=extra)

    def _alloc_page(
        self,
        allowed: set[str],
        prefix: str,
        predicate: Callable | None,
        per_page: int | None,
        next_token: str | None,
        reverse: bool,
    ) -> tuple[list[_Alloc], _Alloc | None]:
        state = self.state
        if prefix:
            ordered = sorted((a for a in state.allocs.values() if a.id.startswith(prefix)), key=lambda a: a.id)
            keys = [a.id for a in ordered]
            token_key: Any = next_token
        else:
            ordered = state.alloc_order
            keys = None
            token_key = None
            if next_token and self.emulator.paging == "string":
                # Nomad 1.6.0-1.10.1: each row's "<CreateIndex>.<ID>" is compared with the token as a string;
                # rows are skipped until the first one not "before" it, and every row after that one is taken.
                rows = reversed(ordered) if reverse else iter(ordered)
                visible = (a for a in _string_seek(rows, next_token, reverse) if a.namespace in allowed)
                return self.paginate(visible, per_page, predicate, state.alloc_resolver)
            if next_token:
                index_text, _, alloc_id = next_token.partition(".")
                token_key = (int(index_text), alloc_id) if index_text.isdigit() else (0, next_token)
        candidates: Iterable[_Alloc]
        if reverse:
            end = len(ordered)
            if token_key is not None:
                end = (
                    bisect.bisect_right(keys, token_key)
                    if keys is not None
                    else bisect.bisect_right(ordered, token_key, key=lambda a: a.order_key)
                )
            candidates = (ordered[i] for i in range(end - 1, -1, -1))
        else:
            start = 0
            if token_key is not None:
                start = (
                    bisect.bisect_left(keys, token_key)
                    if keys is not None
                    else bisect.bisect_left(ordered, token_key, key=lambda a: a.order_key)
                )
            candidates = (ordered[i] for i in range(start, len(ordered)))
        visible = (a for a in candidates if a.namespace in allowed)
        return self.paginate(visible, per_page, predicate, state.alloc_resolver)

    def alloc_read(self, req: _Request, alloc_id: str) -> _Response:
        """GET /v1/allocation/:id: the full Allocation (with Job) or 404 ``alloc not found``."""
        state = self.state
        return self.object_read(req, state.allocs, alloc_id, "allocs", state.render_alloc, "alloc not found")

    def alloc_stop(self, req: _Request, alloc_id: str) -> _Response:
        """POST/PUT /v1/allocation/:id/stop: desired-stop the alloc; the client kills it."""
        state = self.state
        with state.lock:
            alloc = state.allocs.get(alloc_id)
            if alloc is None:
                raise NomadEmulatorError(404, "alloc not found")
            namespace = alloc.namespace
        self.require(req, namespace, "alloc-lifecycle")
        with state.lock:
            index = state._bump("allocs", "evals")
            job = state.jobs.get((alloc.namespace, alloc.job_id)) or alloc.job
            evaluation = state._new_eval(job, "alloc-stop", index, 0)
            alloc.desired_status, alloc.desired_description = "stop", "alloc was stopped by user"
            alloc.alloc_modify_index = alloc.modify_index = index
            alloc.stub_json = None
            if not alloc.terminal:
                now = _now_ns()
                for task_state in (alloc.task_states or {}).values():
                    if task_state.state != "dead":
                        task_kill(task_state, now)
                alloc.client_status, alloc.client_description = "complete", "All tasks have completed"
            state.emit_alloc(alloc, "AllocationUpdateDesiredStatus", index)
            state.refresh_status((alloc.namespace, alloc.job_id), index, "AllocationUpdateDesiredStatus")
            state.commit()
        return self.json(req, {"EvalID": evaluation.id, "Index": index}, index=index)


def _string_seek(rows: Iterable[_Alloc], token: str, reverse: bool) -> Iterator[_Alloc]:
    """Nomad 1.6.0-1.10.1's seek: skip rows whose token string sorts before `token`, then yield all the rest."""
    found = False
    for alloc in rows:
        if not found:
            row = f"{alloc.create_index}.{alloc.id}"
            if (row > token) if reverse else (row < token):
                continue
            found = True
        yield alloc
