"""Job services: rendering with layers and provenance, validation, optimistic concurrency, secrets."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from striv.core import crypto
from striv.jobs import rendering as job_rendering
from striv.jobs import services
from striv.jobs import sync as job_sync
from striv.jobs.models import Job, JobValue

pytestmark = pytest.mark.django_db


def test_job_render_prefers_job_params_over_dimension_params(estate):
    execution, acme, gold = estate.execution, estate.acme, estate.gold
    acme.params = {**acme.params, "env": {"C": "acme"}}
    acme.save()
    gold.params = {**gold.params, "greeting": "gold"}
    gold.save()
    rendered = job_rendering.job_render(execution=execution, values=[gold, acme], params={"env.J": "job"})
    assert rendered.params["greeting"] == "hi acme"  # customer (20) beats level (10)
    assert rendered.params["env"] == {"A": "1", "C": "acme", "LEVEL": "gold", "J": "job"}
    assert rendered.provenance["greeting"] == "dimension:customer=acme"
    assert rendered.provenance["env.A"] == "execution:greeter"
    assert rendered.provenance["env.J"] == "job"
    rendered = job_rendering.job_render(execution=execution, values=[gold, acme], params={"greeting": "mine"})
    assert rendered.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["mine"]


def test_job_create_stores_spec_values_and_hash(estate):
    execution, acme, gold = estate.execution, estate.acme, estate.gold
    job = services.job_create(name="acme job", execution=execution, values=[acme, gold], params={}, push=False).job
    assert job.version == 1
    assert job.spec["Periodic"] == {"Spec": "0 3 * * *"}
    assert job.spec_hash and job.sync_status == Job.SyncStatus.OUT_OF_SYNC
    assert set(JobValue.objects.filter(job=job).values_list("value__key", flat=True)) == {"acme", "gold"}


def test_two_values_of_one_dimension_are_refused(estate):
    execution, acme, other = estate.execution, estate.acme, estate.globex
    with pytest.raises(ValidationError) as info:
        services.job_create(name="x", execution=execution, values=[acme, other], params={})
    assert "at most one value per dimension" in str(info.value)
    assert not Job.objects.exists()


def test_bad_param_key_is_refused_naming_layer_and_key(estate):
    execution, acme = estate.execution, estate.acme
    with pytest.raises(ValidationError) as info:
        services.job_create(name="x", execution=execution, values=[acme], params={"bad key": 1})
    assert "params" in info.value.message_dict
    assert "bad key" in str(info.value) and "job" in str(info.value)
    assert not Job.objects.exists()


def test_template_error_names_execution_line_and_column(estate):
    execution = estate.execution
    execution.payload_template = "{\n  a: params.nope,\n}"
    execution.save()
    with pytest.raises(ValidationError) as info:
        services.job_create(name="x", execution=execution, values=[], params={})
    message = "template of execution greeter failed at line 2, column 6: Field does not exist: nope"
    assert info.value.messages == [message]


def test_update_with_stale_version_is_refused_and_changes_nothing(estate):
    execution, acme = estate.execution, estate.acme
    job = services.job_create(name="x", execution=execution, values=[acme], params={}).job
    services.job_update(job=job, changes=services.JobChanges(name="y"), expected_version=1)
    with pytest.raises(services.StaleVersion):
        services.job_update(job=job, changes=services.JobChanges(name="z"), expected_version=1)
    job.refresh_from_db()
    assert (job.name, job.version) == ("y", 2)


def test_update_without_version_is_last_writer_wins_and_keeps_values(estate):
    execution, acme, gold = estate.execution, estate.acme, estate.gold
    job = services.job_create(name="x", execution=execution, values=[acme, gold], params={}).job
    updated = services.job_update(job=job, changes=services.JobChanges(params={"greeting": "new"})).job
    assert updated.version == 2
    assert updated.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["new"]
    assert updated.job_values.count() == 2
    updated = services.job_update(job=job, changes=services.JobChanges(values=[gold])).job
    assert list(updated.job_values.values_list("value__key", flat=True)) == ["gold"]


def test_unchanged_update_keeps_in_sync_status_and_pushes_nothing(estate):
    execution, acme = estate.execution, estate.acme
    job = services.job_create(name="x", execution=execution, values=[acme], params={"a": 1}, push=False).job
    Job.objects.filter(pk=job.pk).update(pushed_hash=job.spec_hash, sync_status=Job.SyncStatus.IN_SYNC)
    job.refresh_from_db()
    saved = services.job_update(job=job, changes=services.JobChanges(params={"a": 1}))
    assert saved.job.sync_status == Job.SyncStatus.IN_SYNC
    assert saved.outcome.status == job_sync.PushOutcome.UNCHANGED


def test_rename_changes_the_desired_hash(estate):
    execution, acme = estate.execution, estate.acme
    job = services.job_create(name="x", execution=execution, values=[acme], params={}, push=False).job
    renamed = services.job_update(job=job, changes=services.JobChanges(name="renamed"), push=False).job
    assert renamed.spec_hash != job.spec_hash


def test_secret_param_is_redacted_in_preview_and_clear_in_push(estate, encryption_key):
    execution, acme = estate.execution, estate.acme
    secret = crypto.value_encrypt("s3cret", public_pem=crypto.public_key_recover(encryption_key))
    preview = job_rendering.job_render(execution=execution, values=[acme], params={"greeting": secret})
    assert preview.params["greeting"] == "<redacted>"
    assert "s3cret" not in str(preview.spec)
    push = job_rendering.job_render(execution=execution, values=[acme], params={"greeting": secret}, mode="push")
    assert push.spec["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["s3cret"]


def test_secret_without_a_key_is_refused(estate, no_encryption_key, private_key):
    execution, acme = estate.execution, estate.acme
    secret = crypto.value_encrypt("s3cret", public_pem=crypto.public_key_recover(private_key))
    with pytest.raises(ValidationError) as info:
        services.job_create(name="x", execution=execution, values=[acme], params={"token": secret})
    assert "encryption key" in str(info.value) and "token" in str(info.value)


def test_secret_of_another_key_is_refused_naming_param_and_layer(estate, encryption_key, other_private_key):
    execution, acme = estate.execution, estate.acme
    secret = crypto.value_encrypt("s3cret", public_pem=crypto.public_key_recover(other_private_key))
    with pytest.raises(ValidationError) as info:
        services.job_create(name="x", execution=execution, values=[acme], params={"db": {"password": secret}})
    assert "db.password" in str(info.value) and "job" in str(info.value)


def test_changed_secret_changes_the_desired_hash(estate, encryption_key):
    execution, acme = estate.execution, estate.acme
    public = crypto.public_key_recover(encryption_key)
    job = services.job_create(
        name="x", execution=execution, values=[acme], params={"token": crypto.value_encrypt("a", public_pem=public)}
    ).job
    before = job.spec_hash
    job = services.job_update(
        job=job, changes=services.JobChanges(params={"token": crypto.value_encrypt("b", public_pem=public)})
    ).job
    assert job.spec_hash != before


def test_jobs_render_many_matches_single_renders_and_isolates_failures(estate):
    execution, acme, gold = estate.execution, estate.acme, estate.gold
    ok = services.job_create(name="ok", execution=execution, values=[acme], params={}).job
    other = services.job_create(name="other", execution=execution, values=[gold], params={"greeting": "x"}).job
    Job.objects.filter(pk=other.pk).update(params={"bad key": 1})
    results = dict(job_rendering.jobs_render_many(Job.objects.order_by("name")))
    by_name = {job.name: result for job, result in results.items()}
    assert by_name["ok"][1] == ok.spec_hash
    assert "bad key" in str(by_name["other"])


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "escape \x1b[31mred", "nul\x00", "c1\x85"])
def test_job_names_refuse_control_characters(estate, name):
    with pytest.raises(ValidationError) as info:
        services.job_create(name=name, execution=estate.execution, params={}, push=False)
    assert "control characters" in str(info.value.message_dict["name"])
    assert not Job.objects.exists()
