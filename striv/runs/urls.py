"""Run pages (namespace ``runs``)."""

from django.urls import path

from striv.runs import views

app_name = "runs"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/log/", views.run_log, name="log"),
    path("<int:pk>/log/download/", views.run_log_download, name="log_download"),
]
