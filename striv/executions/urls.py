"""Execution pages (namespace ``executions``)."""

from django.urls import path

from striv.executions import views

app_name = "executions"

urlpatterns = [
    path("", views.execution_list, name="list"),
    path("<str:key>/", views.execution_detail, name="detail"),
]
