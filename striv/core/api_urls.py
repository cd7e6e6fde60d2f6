"""REST API routes (under /api/): one router for the entities, plus health, public key, state, schema and docs."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from striv.core.api.views import HealthView, NotFoundView, PublicKeyView, striv_version
from striv.dimensions.api import DimensionViewSet
from striv.executions.api import ExecutionViewSet
from striv.jobs.api import JobViewSet
from striv.runs.api import RunViewSet
from striv.state.api import StateView

app_name = "api"

router = SimpleRouter(trailing_slash=False)
router.register("jobs", JobViewSet, basename="job")
router.register("runs", RunViewSet, basename="run")
router.register("executions", ExecutionViewSet, basename="execution")
router.register("dimensions", DimensionViewSet, basename="dimension")

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("public-key", PublicKeyView.as_view(), name="public-key"),
    path("state", StateView.as_view(), name="state"),
    path("schema/", SpectacularAPIView.as_view(custom_settings={"VERSION": striv_version()}), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
    # Last: any other URL under /api/ answers a problem document instead of an HTML page.
    re_path(r"^.*$", NotFoundView.as_view(), name="not-found"),
]
