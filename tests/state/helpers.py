"""Helpers of the state tests: a small state document, load-state through call_command, jobs and snapshots."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from striv.dimensions.models import DimensionValue
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.models import Job
from striv.state.dump import state_dump
from tests.factories import SIMPLE_TEMPLATE


def base_state(**overrides) -> dict:
    """A state with one execution (greeter) and one dimension (customer: acme, globex); top-level keys replaced."""
    state = {
        "executions": {
            "greeter": {
                "name": "Greeter",
                "driver": "nomad",
                "driver_config": {"address": "http://127.0.0.1:4646"},
                "default_params": {"cron": "0 3 * * *", "image": "alpine:3.20", "greeting": "hello", "env": {}},
                "payload_template": SIMPLE_TEMPLATE,
            }
        },
        "dimensions": {
            "customer": {
                "priority": 10,
                "values": {"acme": {"params": {"greeting": "hi acme"}}, "globex": {"params": {}}},
            }
        },
    }
    state.update(overrides)
    return state


def load(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("load-state", str(path), *args, stdout=out)
    return out.getvalue()


def make_job(name="job", values=("customer", "acme"), params=None) -> Job:
    value = DimensionValue.objects.get(dimension__key=values[0], key=values[1]) if values else None
    return services.job_create(
        name=name,
        execution=Execution.objects.get(key="greeter"),
        values=[value] if value else [],
        params=params or {},
    ).job


def snapshot() -> str:
    return json.dumps(
        {
            "state": state_dump(),
            "jobs": sorted((str(j.pk), j.spec_hash, j.sync_status, j.version) for j in Job.objects.all()),
        },
        sort_keys=True,
    )
