"""load-state: all-or-nothing replacement, refusals naming what is in use or would break, re-rendering, dry run."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from striv.core import crypto
from striv.dimensions.models import Dimension, DimensionValue
from striv.executions.models import Execution
from striv.jobs import services
from striv.jobs.models import Job
from striv.state.load import state_load
from striv.state.schema import state_parse
from tests.state.helpers import base_state, load, make_job, snapshot

pytestmark = pytest.mark.django_db


def test_load_reports_additions_and_a_second_load_changes_nothing(write_state):
    path = write_state(base_state())
    first = load(path)
    assert "execution added: greeter" in first
    assert "dimension value added: customer=acme" in first
    assert "no changes" in load(path)


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


def test_state_load_service_returns_diff(write_state):
    diff = state_load(state=state_parse(base_state()))
    assert diff.executions_added == ["greeter"]
    assert diff.changed
