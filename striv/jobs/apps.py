from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "striv.jobs"
    label = "jobs"
