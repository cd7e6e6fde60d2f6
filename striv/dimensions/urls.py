"""Dimension pages (namespace ``dimensions``)."""

from django.urls import path

from striv.dimensions import views

app_name = "dimensions"

urlpatterns = [
    path("", views.dimension_list, name="list"),
    path("<str:key>/", views.dimension_detail, name="detail"),
]
