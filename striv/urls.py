"""Every URL root: the web UI at /, the REST API under /api/, the Django admin under /admin/.

Each app keeps its own page routes (``<app>/urls.py``, namespaced) and its API viewset (``<app>/api.py``); they
are put together here, at the top, so that no app imports another to route it.
"""

from typing import cast

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import Route, SimpleRouter

from striv.core import views as core_views
from striv.core.api.views import NotFoundView, PublicKeyView, striv_version
from striv.dimensions.api import DimensionViewSet
from striv.executions.api import ExecutionViewSet, HealthView
from striv.jobs.api import JobViewSet
from striv.runs.api import RunViewSet
from striv.runs.views import dashboard
from striv.state.api import StateView

admin.site.site_header = "striv administration"
admin.site.site_title = "striv"


_list_route = cast(Route, SimpleRouter.routes[0])


class ApiRouter(SimpleRouter):
    """SimpleRouter whose list URL also takes PATCH (``bulk_partial_update``) where a viewset offers it, as NetBox's."""

    routes = [
        _list_route._replace(mapping={**_list_route.mapping, "patch": "bulk_partial_update"}),
        *SimpleRouter.routes[1:],
    ]


router = ApiRouter(trailing_slash=False)
router.register("jobs", JobViewSet, basename="job")
router.register("runs", RunViewSet, basename="run")
router.register("executions", ExecutionViewSet, basename="execution")
router.register("dimensions", DimensionViewSet, basename="dimension")

api_patterns = [
    path("health", HealthView.as_view(), name="health"),
    path("public-key", PublicKeyView.as_view(), name="public-key"),
    path("state", StateView.as_view(), name="state"),
    path("schema/", SpectacularAPIView.as_view(custom_settings={"VERSION": striv_version()}), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    # Last: any other URL under /api/ answers a problem document instead of an HTML page.
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("login/", core_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard, name="home"),
    path("jobs/", include("striv.jobs.urls")),
    path("runs/", include("striv.runs.urls")),
    path("executions/", include("striv.executions.urls")),
    path("dimensions/", include("striv.dimensions.urls")),
]
