from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "striv.runs"
    label = "runs"
