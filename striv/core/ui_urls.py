"""Web UI routes: login/logout, the dashboard, and each app's pages under its own prefix and namespace."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from striv.core import views
from striv.runs.views import dashboard

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard, name="home"),
    path("jobs/", include("striv.jobs.urls")),
    path("runs/", include("striv.runs.urls")),
    path("executions/", include("striv.executions.urls")),
    path("dimensions/", include("striv.dimensions.urls")),
]
