"""The driver registry: one entry per driver, imported on first use, and the choices and checks derived from it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from striv.drivers import DRIVERS, DriverEntry, UnknownDriverError, driver_choices, driver_class, get_driver
from striv.executions.admin import DriverFilter, ExecutionAdmin
from striv.executions.api import ExecutionSerializer
from striv.executions.models import Execution
from tests.factories import ExecutionFactory


def test_each_entry_holds_the_label_and_dotted_path_of_its_driver():
    assert DRIVERS["nomad"] == DriverEntry("HashiCorp Nomad", "striv.drivers.nomad.NomadDriver")
    for key, entry in DRIVERS.items():
        cls = driver_class(key)
        assert f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}" == entry.path
        assert (cls.name, cls.label) == (key, entry.label)
    assert driver_choices() == [("nomad", "HashiCorp Nomad"), ("mesos", "Apache Mesos (Rhythm)")]


def test_registry_imports_a_driver_only_when_it_is_first_used():
    code = (
        "import sys, striv.drivers as d\n"
        "assert 'striv.drivers.nomad' not in sys.modules, 'imported with the registry'\n"
        "assert d.driver_choices()[0] == ('nomad', 'HashiCorp Nomad')\n"
        "assert 'striv.drivers.nomad' not in sys.modules, 'imported for its label'\n"
        "assert d.driver_class('nomad').__name__ == 'NomadDriver'\n"
        "assert 'striv.drivers.nomad' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_unknown_driver_key_is_a_clear_error():
    with pytest.raises(UnknownDriverError) as info:
        driver_class("kubernetes")
    assert str(info.value) == "unknown driver 'kubernetes' (known: mesos, nomad)"
    assert isinstance(info.value, KeyError) and info.value.key == "kubernetes"
    with pytest.raises(UnknownDriverError):
        get_driver("kubernetes", {})


def test_execution_clean_rejects_a_driver_that_is_not_registered():
    execution = ExecutionFactory.build(key="k8s", driver="kubernetes")
    with pytest.raises(ValidationError) as info:
        execution.full_clean(validate_unique=False, validate_constraints=False)
    assert info.value.message_dict["driver"] == ["Unknown driver 'kubernetes'; known: mesos, nomad"]
    ExecutionFactory.build(key="fine").clean()


def test_execution_driver_field_freezes_no_choices_and_shows_the_registered_label():
    assert not Execution._meta.get_field("driver").choices
    assert ExecutionFactory.build(driver="nomad").get_driver_display() == "HashiCorp Nomad"
    assert ExecutionFactory.build(driver="gone").get_driver_display() == "gone"


def test_admin_and_api_choices_come_from_the_registry():
    assert DriverFilter.lookups(DriverFilter, None, None) == driver_choices()
    assert DriverFilter in ExecutionAdmin.list_filter
    assert dict(ExecutionSerializer().fields["driver"].choices) == dict(driver_choices())


@pytest.mark.django_db
def test_admin_lists_and_filters_executions_by_driver_label(admin_client):
    execution = ExecutionFactory(key="greeter")
    listing = admin_client.get("/admin/executions/execution/").content.decode()
    assert "HashiCorp Nomad" in listing and "?driver__exact=nomad" in listing
    assert "greeter" in admin_client.get("/admin/executions/execution/?driver__exact=nomad").content.decode()
    assert "greeter" not in admin_client.get("/admin/executions/execution/?driver__exact=mesos").content.decode()
    assert "Apache Mesos (Rhythm)" in listing
    detail = admin_client.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()
    assert "HashiCorp Nomad" in detail


def test_execution_get_driver_builds_its_driver_with_striv_decryption():
    from striv.core import keys

    driver = ExecutionFactory.build(driver_config={"address": "http://127.0.0.1:4646"}).get_driver()
    assert type(driver) is driver_class("nomad") and driver.decrypt is keys.decrypt
