"""load-state / dump-state: evaluation, validation, all-or-nothing replacement and reports."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from striv.core import crypto
from striv.core.state import StateError, state_dump, state_load, state_parse, state_read
from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.models import Job
from tests.conftest import EXAMPLES
from tests.factories import SIMPLE_TEMPLATE

STATE_FILES = sorted(
    p for p in EXAMPLES.glob("*/*.jsonnet") if p.name not in {"nomad_job.jsonnet"} and "templates" not in p.parts
)

pytestmark = pytest.mark.django_db


def base_state(**overrides) -> dict:
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


@pytest.mark.parametrize("path", STATE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_state_file_loads_and_renders_a_job_per_execution(path):
    load(path)
    assert Execution.objects.exists()
    dimensions = list(Dimension.objects.prefetch_related("values"))
    for execution in Execution.objects.all():
        values = [d.values.order_by("key").first() for d in dimensions if d.values.exists()]
        job = services.job_create(name=f"job of {execution.key}", execution=execution, values=values, params={}).job
        assert job.spec["TaskGroups"], job.spec


def test_original_striv_state_format_loads_unchanged(write_state):
    path = EXAMPLES / "getting-started" / "hello-world.jsonnet"
    load(path)
    execution = Execution.objects.get(key="hello_world")
    assert execution.logstore == "nomad"
    assert execution.driver_config == {"nomad_url": "http://127.0.0.1:4646"}
    assert DimensionValue.objects.get(dimension__key="audience", key="moon").params == {"greeting": "Luna"}


def test_load_reports_additions_and_a_second_load_changes_nothing(write_state):
    path = write_state(base_state())
    first = load(path)
    assert "execution added: greeter" in first
    assert "dimension value added: customer=acme" in first
    assert "no changes" in load(path)


def test_dump_state_round_trip_changes_nothing(write_state, tmp_path):
    load(EXAMPLES / "multi-customer" / "state.jsonnet")
    out = StringIO()
    call_command("dump-state", stdout=out)
    dumped = tmp_path / "dumped.json"
    dumped.write_text(out.getvalue())
    before = snapshot()
    assert "no changes" in load(dumped)
    assert snapshot() == before
    assert json.loads(out.getvalue()) == state_dump()


def test_evaluation_error_names_file_line_and_column(write_state):
    path = write_state("{\n  executions: {\n    x: 1 +,\n  },\n}\n")
    with pytest.raises(CommandError) as info:
        load(path)
    assert f"{path}:3:" in str(info.value)


def test_runtime_error_in_imported_file_names_that_file(write_state, tmp_path):
    path = write_state(
        "local lib = import 'lib.libsonnet';\n{ executions: lib.x }\n",
        **{"lib.libsonnet": "{\n  x: error 'broken library',\n}\n"},
    )
    with pytest.raises(CommandError) as info:
        load(path)
    assert "lib.libsonnet:2:" in str(info.value)
    assert "broken library" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["executions"]["greeter"].update(colour="red"), "executions.greeter.colour: unknown field"),
        (lambda s: s["executions"]["greeter"].update(driver="k8s"), "executions.greeter.driver: unknown driver"),
        (lambda s: s["executions"]["greeter"].pop("payload_template"), "executions.greeter.payload_template: required"),
        (
            lambda s: s["dimensions"]["customer"]["values"]["acme"].update(params=[1]),
            "dimensions.customer.values.acme.params: must be an object",
        ),
        (
            lambda s: s["dimensions"]["customer"].update(priority="high"),
            "dimensions.customer.priority: must be an integer",
        ),
        (
            lambda s: s["executions"]["greeter"]["default_params"].update({"bad key": 1}),
            "executions.greeter.default_params",
        ),
        (
            lambda s: s["executions"]["greeter"]["driver_config"].update(address="nomad:4646"),
            "executions.greeter.driver_config.address: must be an http(s) URL",
        ),
        (lambda s: s.update(jobs={}), "(top level).jobs: unknown field"),
        (
            lambda s: s["executions"]["greeter"].update(payload_template="{ a: }"),
            "executions.greeter.payload_template",
        ),
    ],
)
def test_schema_errors_name_the_path_and_change_nothing(write_state, mutate, expected):
    load(write_state(base_state()))
    before = snapshot()
    state = base_state()
    mutate(state)
    with pytest.raises(CommandError) as info:
        load(write_state(state, name="bad.json"))
    assert expected in str(info.value)
    assert snapshot() == before


def test_nomad_url_is_accepted_as_the_older_name_of_address(write_state):
    state = base_state()
    state["executions"]["greeter"]["driver_config"] = {"nomad_url": "http://nomad:4646"}
    load(write_state(state))
    assert Execution.objects.get(key="greeter").driver_config == {"nomad_url": "http://nomad:4646"}


def test_removing_an_execution_used_by_jobs_is_refused_naming_them(write_state):
    load(write_state(base_state()))
    job = make_job("acme nightly")
    before = snapshot()
    with pytest.raises(CommandError) as info:
        load(write_state(base_state(executions={})))
    assert "execution greeter is removed but used by jobs" in str(info.value)
    assert "acme nightly" in str(info.value) and str(job.pk) in str(info.value)
    assert snapshot() == before


def test_removing_a_dimension_value_used_by_jobs_is_refused(write_state):
    load(write_state(base_state()))
    make_job("acme nightly")
    state = base_state()
    del state["dimensions"]["customer"]["values"]["acme"]
    with pytest.raises(CommandError) as info:
        load(write_state(state))
    assert "dimension value customer=acme is removed but used by jobs: job 'acme nightly'" in str(info.value)
    assert DimensionValue.objects.filter(key="acme").exists()


def test_removing_unused_items_deletes_them(write_state):
    load(write_state(base_state()))
    state = base_state(dimensions={})
    out = load(write_state(state))
    assert "dimension value removed: customer=acme" in out
    assert "dimension removed: customer" in out
    assert not Dimension.objects.exists()


def test_state_that_would_break_a_job_is_refused_listing_each_job(write_state):
    load(write_state(base_state()))
    make_job("uses acme")
    make_job("uses globex", values=("customer", "globex"))
    before = snapshot()
    state = base_state()
    state["executions"]["greeter"]["payload_template"] = "{ Type: 'batch', X: params.missing_param }"
    with pytest.raises(CommandError) as info:
        load(write_state(state))
    message = str(info.value)
    assert "2 job(s) would fail to render" in message
    assert "uses acme" in message and "uses globex" in message
    assert "missing_param" in message
    assert snapshot() == before


def test_template_change_marks_changed_jobs_out_of_sync_and_reports_them(write_state):
    load(write_state(base_state()))
    acme = make_job("uses acme")
    globex = make_job("uses globex", values=("customer", "globex"))
    Job.objects.update(sync_status=Job.SyncStatus.IN_SYNC, pushed_hash="x")
    Job.objects.filter(pk=acme.pk).update(pushed_hash=acme.spec_hash)
    Job.objects.filter(pk=globex.pk).update(pushed_hash=globex.spec_hash)
    state = base_state()
    state["dimensions"]["customer"]["values"]["acme"]["params"]["greeting"] = "good day acme"
    diff = state_load(state=state_parse(state))  # the service marks; the command also pushes
    out = "\n".join(diff.lines())
    assert "dimension value changed: customer=acme" in out
    assert f"job spec changes: uses acme ({acme.pk})" in out
    assert "uses globex" not in out
    assert Job.objects.get(pk=acme.pk).sync_status == Job.SyncStatus.OUT_OF_SYNC
    assert Job.objects.get(pk=globex.pk).sync_status == Job.SyncStatus.IN_SYNC
    assert Job.objects.get(pk=acme.pk).spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["good day acme"]


def test_priority_change_re_renders_jobs_of_that_dimension(write_state):
    state = base_state()
    state["dimensions"]["service"] = {"priority": 5, "values": {"gold": {"params": {"greeting": "gold"}}}}
    load(write_state(state))
    job = services.job_create(
        name="two dims",
        execution=Execution.objects.get(key="greeter"),
        values=list(DimensionValue.objects.filter(key__in=["acme", "gold"])),
        params={},
    ).job
    assert job.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["hi acme"]
    state["dimensions"]["service"]["priority"] = 50
    out = load(write_state(state))
    assert "job spec changes: two dims" in out
    assert Job.objects.get(pk=job.pk).spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["gold"]


def test_dry_run_reports_the_same_and_changes_nothing(write_state):
    load(write_state(base_state()))
    make_job("uses acme")
    before = snapshot()
    state = base_state()
    state["executions"]["greeter"]["default_params"]["greeting"] = "changed"
    state["dimensions"]["customer"]["values"]["initech"] = {"params": {}}
    out = load(write_state(state), "--dry-run")
    assert "dimension value added: customer=initech" in out
    assert "execution changed: greeter" in out
    assert "dry run" in out
    assert snapshot() == before


def test_state_parse_collects_every_problem():
    state = base_state()
    state["executions"]["greeter"]["colour"] = 1
    state["dimensions"]["customer"]["priority"] = None
    with pytest.raises(StateError) as info:
        state_parse(state, source="x.json")
    assert len(info.value.problems) == 2


def test_secret_in_state_needs_a_key(write_state, no_encryption_key, private_key):
    secret = crypto.value_encrypt("s3cret", public_pem=crypto.public_key_recover(private_key))
    state = base_state()
    state["dimensions"]["customer"]["values"]["acme"]["params"]["password"] = secret
    load(write_state(state))  # storing an encrypted value needs no key
    with pytest.raises(Exception) as info:
        make_job("uses acme")
    assert "encryption key" in str(info.value)
    assert "dimension:customer=acme" in str(info.value)


def test_state_with_a_secret_of_another_key_is_refused_when_jobs_use_it(write_state, encryption_key, other_private_key):
    load(write_state(base_state()))
    make_job("uses acme")
    state = base_state()
    state["dimensions"]["customer"]["values"]["acme"]["params"]["password"] = crypto.value_encrypt(
        "x", public_pem=crypto.public_key_recover(other_private_key)
    )
    with pytest.raises(CommandError) as info:
        load(write_state(state))
    assert "password" in str(info.value) and "dimension:customer=acme" in str(info.value)


def test_state_read_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(StateError, match="no such file"):
        state_read(tmp_path / "nope.jsonnet")


def test_state_load_service_returns_diff(write_state):
    diff = state_load(state=state_parse(base_state()))
    assert diff.executions_added == ["greeter"]
    assert diff.changed
