"""Rendering is bounded: wall-clock, memory and output per evaluation, even when a param drives a loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from striv import templating
from striv.templating import RenderError, sandbox
from striv.templating.layers import Layer

# n*n steps in little memory: a param decides how long it runs.
LOOP = "local s = std.range(1, params.n); { n: std.length([1 for a in s for b in s]) }"
BIG_OUTPUT = "{ a: std.repeat('x', params.n) }"
MEMORY = "{ a: std.length(std.range(1, params.n)) }"


@pytest.fixture
def small_limits() -> Iterator[sandbox.Limits]:
    before = sandbox.limits()
    limits = sandbox.Limits(seconds=0.5, memory_mb=512, output_bytes=10_000, workers=1)
    sandbox.limits_set(limits)
    yield limits
    sandbox.limits_set(before)


def render(template: str, n: int) -> templating.Rendered:
    return templating.job_spec_render(template, [Layer("job", {"n": n})], execution_key="greeter")


def test_defaults_are_two_seconds_256_mb_and_one_mb(settings):
    assert (settings.RENDER_TIME_LIMIT_MS, settings.RENDER_MEMORY_LIMIT_MB) == (2000, 256)
    assert settings.RENDER_OUTPUT_LIMIT_BYTES == 1_000_000
    assert sandbox.limits() == sandbox.Limits(seconds=2.0, memory_mb=256, output_bytes=1_000_000, workers=2)


def test_a_param_driven_loop_stops_at_the_time_limit(small_limits):
    assert render(LOOP, 10).spec == {"n": 100}
    with pytest.raises(RenderError, match=r"took longer than the limit of 0\.5 s") as info:
        render(LOOP, 5000)
    assert info.value.kind == "limit"
    assert render(LOOP, 20).spec == {"n": 400}  # a fresh worker serves the next evaluation


def test_a_param_driven_allocation_stops_at_the_memory_limit(small_limits):
    with pytest.raises(RenderError, match="needed more than the limit of 512 MB"):
        render(MEMORY, 10**9)
    assert render(MEMORY, 5).spec == {"a": 5}


def test_output_past_the_limit_is_a_render_error(small_limits):
    assert render(BIG_OUTPUT, 100).spec == {"a": "x" * 100}
    with pytest.raises(RenderError, match="more than the limit of 10,000 bytes of output"):
        render(BIG_OUTPUT, 20_000)


def test_in_a_batch_only_the_job_past_a_limit_fails(small_limits):
    many = [[Layer("job", {"n": n})] for n in [1, 2, 5000, 3] * 3]
    results = templating.job_specs_render(LOOP, many, execution_key="greeter")
    failed = [i for i, result in enumerate(results) if isinstance(result, RenderError)]
    assert failed == [2, 6, 10]
    assert results[0].spec == {"n": 1} and results[3].spec == {"n": 9}
