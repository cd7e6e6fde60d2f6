"""Run statuses have one definition, RunStatus: the model, the API, the forms and the badges derive from it."""

from __future__ import annotations

from striv.core.templatetags.striv_ui import RUN_STATUS_LABELS
from striv.drivers.base import FAILING_RUN_STATUSES, FINISHED_RUN_STATUSES, RunStatus
from striv.jobs import filtersets as jobs_filtersets
from striv.jobs.filtersets import JobFilterSet
from striv.runs import views as run_views
from striv.runs.api import RunFilter
from striv.runs.models import Run
from striv.runs.templatetags.run_charts import STACK_ORDER


def test_the_run_model_uses_the_one_enum():
    assert Run.Status is RunStatus
    assert Run._meta.get_field("status").choices == RunStatus.choices
    assert Run.FINISHED == FINISHED_RUN_STATUSES


def test_finished_and_failing_statuses_are_statuses():
    assert set(FINISHED_RUN_STATUSES) == {RunStatus.SUCCESSFUL, RunStatus.FAILED, RunStatus.LOST, RunStatus.STOPPED}
    assert set(FAILING_RUN_STATUSES) == {RunStatus.FAILED, RunStatus.LOST}
    assert all(Run(status=status).is_finished for status in FINISHED_RUN_STATUSES)
    unfinished = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.DISCONNECTED)
    assert not any(Run(status=status).is_finished for status in unfinished)
    assert set(RunStatus) == set(FINISHED_RUN_STATUSES) | set(unfinished)


def test_the_runs_api_status_filter_offers_exactly_the_enum():
    assert list(RunFilter.base_filters["status"].extra["choices"]) == RunStatus.choices


def test_the_job_filterset_latest_run_statuses_are_the_enum():
    assert jobs_filtersets.RUN_STATUSES == tuple(RunStatus.values)
    choices = JobFilterSet.base_filters["latest_run_status"].extra["choices"]
    assert [value for value, _ in choices] == ["failing", *RunStatus.values, "none"]
    assert [choice for choice in choices if choice[0] in RunStatus.values] == RunStatus.choices


def test_the_forms_offer_the_enum_with_its_labels():
    run_choices = run_views.RunFilterForm().fields["status"].choices
    assert run_choices == [("", "Any status"), *RunStatus.choices]


def test_badges_and_chart_cover_every_status():
    assert RUN_STATUS_LABELS == dict(RunStatus.choices)
    assert sorted(STACK_ORDER) == sorted(RunStatus)
