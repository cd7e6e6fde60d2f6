"""Templates Nomad reads differently than they mean are caught in the preview, naming the field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from striv.drivers.base import SpecError
from striv.drivers.nomad import NomadDriver
from striv.jobs import services

PERIODIC = {"Spec": "0 3 * * *"}


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        ({"Periodic": PERIODIC, "ParameterizedJob": {}}, "ParameterizedJob", "never launches"),
        ({"periodic": {"Spec": "61 * * * *"}}, "Periodic.Spec", "Invalid cron spec"),
        ({"type": "service", "periodic": PERIODIC}, "Type", "batch"),
        ({"Periodic": PERIODIC, "periodic": PERIODIC}, "Periodic", "one field to Nomad"),
        ({"Namespace": "ops", "Periodic": PERIODIC}, "Namespace", "driver_config"),
        ({"region": "eu", "Periodic": PERIODIC}, "Region", "driver_config"),
        ({"Periodic": {"Specs": ["0 3 * * *", "0 0 1 1 * 2020"]}}, "Periodic.Specs[1]", "no future launch"),
    ],
)
def test_specs_nomad_reads_otherwise_are_spec_errors_naming_the_field(spec, field, text):
    with pytest.raises(SpecError) as info:
        NomadDriver.validate_spec({"Type": "batch", **spec} if "type" not in spec else spec)
    assert info.value.field == field and text in str(info.value)


def test_a_lowercase_periodic_is_pushed_as_periodic_not_parameterized(nomad, nomad_execution):
    nomad_execution.payload_template = (
        "{ Type: 'batch', Datacenters: ['dc1'], periodic: { Spec: '0 3 * * *' },"
        " TaskGroups: [{ Name: 'main', Tasks: [{ Name: 'run', Driver: 'docker', Config: { image: 'a' } }] }] }"
    )
    nomad_execution.save()
    job = services.job_create(name="lower", execution=nomad_execution).job
    held = nomad.job(f"striv-{job.pk}")
    assert held["Periodic"]["Spec"] == "0 3 * * *" and held["ParameterizedJob"] is None


def test_a_template_with_a_namespace_is_refused_in_the_preview(nomad, nomad_execution):
    nomad_execution.payload_template = nomad_execution.payload_template.replace(
        "Type: 'batch',", "Type: 'batch', Namespace: 'ops',"
    )
    nomad_execution.save()
    with pytest.raises(ValidationError, match="driver_config"):
        services.job_create(name="namespaced", execution=nomad_execution)
    assert not nomad.jobs
