"""Rendering many jobs of one execution at once: chunks of jobs per jsonnet evaluation, bisected on failure."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from striv.templating import jsonnet, sandbox
from striv.templating.errors import RenderError
from striv.templating.layers import Layer, Rendered
from striv.templating.merge import MergeCache
from striv.templating.render import Mode, Prepared, mode_check, prepare
from striv.templating.secrets import Decrypt

logger = logging.getLogger(__name__)

# Jobs per jsonnet evaluation in job_specs_render. Batching spreads the fixed cost of an evaluation and halves the
# cost per job; about a hundred measured fastest, and a failing chunk stays cheap to bisect.
BATCH_CHUNK_SIZE = 100
# Below this size a failing chunk is rendered job by job instead of being split further.
_BISECT_MIN = 8
# Evaluations release the GIL, so with two usable cores two chunks evaluate at once. On one core threads only add
# switching, and one worker alone gains nothing: handing the GIL back and forth costs what overlapping saves.
_MAX_WORKERS = 2


def _usable_cores() -> int:
    # Checked per call: the process may be pinned to fewer cores than the machine has.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def job_specs_render(
    template: str,
    many: Sequence[Sequence[Layer]],
    *,
    execution_key: str,
    mode: Mode = "preview",
    decrypt: Decrypt | None = None,
) -> list[Rendered | RenderError]:
    """Render many jobs of one execution; the result at index i is what ``job_spec_render`` gives for ``many[i]``.

    Returns a list holding a Rendered or the RenderError of each job, so one bad job does not stop the others.
    Jobs are evaluated a chunk at a time in a single jsonnet evaluation; a failing chunk is split until each
    failing job is rendered alone and gets its own error. Layers whose params are the same object for many jobs
    (the execution's, a dimension value's) are checked and expanded once, and the jobs that share their first
    layers share the merge of those. So the results' params share objects with each other: treat them as read-only.
    """
    mode_check(mode)
    results: list[Rendered | RenderError | None] = [None] * len(many)
    # A template that compiles alone also compiles, with the same meaning, as the body of the batch function;
    # checking first keeps a malformed template from being completed into a valid one by the batch wrapper.
    template_error: RenderError | None = None
    if many:
        try:
            jsonnet.template_check(template, execution_key=execution_key)
        except RenderError as exc:
            template_error = exc
    cache = MergeCache()
    memo: dict[str, str] = {}
    # Chunks are evaluated by worker threads while this thread prepares the next ones (see _MAX_WORKERS).
    workers = min(_MAX_WORKERS, _usable_cores())
    threaded = workers > 1 and template_error is None and len(many) > BATCH_CHUNK_SIZE
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="striv-render") if threaded else None
    futures: list[Future[None]] = []
    pending: list[tuple[int, Prepared]] = []

    def flush() -> None:
        if pool is None:
            _chunk_render(template, pending, execution_key, results)
        else:
            futures.append(pool.submit(_chunk_render, template, list(pending), execution_key, results))
        pending.clear()

    try:
        for index, layers in enumerate(many):
            try:
                prepared = prepare(layers, mode=mode, decrypt=decrypt, cache=cache, memo=memo)
            except RenderError as exc:
                results[index] = exc
                continue
            if template_error is not None:
                results[index] = template_error.copy()
                continue
            pending.append((index, prepared))
            if len(pending) >= BATCH_CHUNK_SIZE:
                flush()
        if pending:
            flush()
        for future in futures:
            future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return results  # type: ignore[return-value]


def _chunk_render(
    template: str,
    chunk: list[tuple[int, Prepared]],
    execution_key: str,
    results: list[Rendered | RenderError | None],
) -> None:
    if len(chunk) < _BISECT_MIN:
        for index, prepared in chunk:
            try:
                results[index] = prepared.rendered(jsonnet.evaluate(template, prepared.params_json, execution_key))
            except RenderError as exc:
                results[index] = exc
        return
    try:
        specs = jsonnet.evaluate_batch(template, [prepared.params_json for _, prepared in chunk], execution_key)
    except sandbox.LimitExceeded:
        # Some job runs long or big: alone, each job gets its own limits, and only the culprits reach them.
        for index, prepared in chunk:
            try:
                results[index] = prepared.rendered(jsonnet.evaluate(template, prepared.params_json, execution_key))
            except RenderError as exc:
                results[index] = exc
        return
    except RuntimeError:
        # Some job in the chunk fails; halves that evaluate cleanly keep their speed, the rest narrow down to it.
        logger.debug("execution %s: a chunk of %d jobs failed to render, splitting it", execution_key, len(chunk))
        middle = len(chunk) // 2
        _chunk_render(template, chunk[:middle], execution_key, results)
        _chunk_render(template, chunk[middle:], execution_key, results)
        return
    for (index, prepared), spec in zip(chunk, specs, strict=True):
        try:
            results[index] = prepared.rendered(jsonnet.result_check(spec, execution_key))
        except RenderError as exc:
            results[index] = exc
