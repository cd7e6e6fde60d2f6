from django.apps import AppConfig


class StateConfig(AppConfig):
    """load-state and dump-state, and the state API; no models."""

    name = "striv.state"
    label = "state"
