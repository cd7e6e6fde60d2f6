from django.apps import AppConfig


class DimensionsConfig(AppConfig):
    name = "striv.dimensions"
    label = "dimensions"
