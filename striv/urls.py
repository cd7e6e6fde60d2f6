"""Top-level URL configuration: the web UI at /, the REST API under /api/, the Django admin under /admin/."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "striv administration"
admin.site.site_title = "striv"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("striv.core.api_urls")),
    path("", include("striv.core.ui_urls")),
]
