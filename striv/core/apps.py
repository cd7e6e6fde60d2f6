from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "striv.core"
    label = "core"
