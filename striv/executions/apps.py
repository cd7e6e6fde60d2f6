from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "striv.executions"
    label = "executions"
