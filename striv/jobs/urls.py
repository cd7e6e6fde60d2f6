"""Job pages (namespace ``jobs``)."""

from django.urls import path

from striv.jobs import edit_views, views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", edit_views.job_create, name="create"),
    path("bulk/", views.job_bulk, name="bulk"),
    path("preview/", edit_views.job_preview, name="preview"),
    path("param-row/", edit_views.job_param_row, name="param_row"),
    path("<uuid:pk>/", views.job_detail, name="detail"),
    path("<uuid:pk>/edit/", edit_views.job_edit, name="edit"),
    path("<uuid:pk>/runs/", views.job_runs, name="runs"),
    path("<uuid:pk>/plan/", views.job_plan, name="plan"),
    path("<uuid:pk>/plan-draft/", edit_views.job_plan_draft, name="plan_draft"),
    path("<uuid:pk>/run/", views.job_run_now, name="run_now"),
    path("<uuid:pk>/push/", views.job_push, name="push"),
    path("<uuid:pk>/delete/", views.job_delete, name="delete"),
]
