from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "striv.core"
    label = "core"

    def ready(self) -> None:
        from django.conf import settings

        from striv.templating import sandbox

        sandbox.limits_set(
            sandbox.Limits(
                seconds=settings.RENDER_TIME_LIMIT_MS / 1000,
                memory_mb=settings.RENDER_MEMORY_LIMIT_MB,
                output_bytes=settings.RENDER_OUTPUT_LIMIT_BYTES,
                workers=settings.RENDER_WORKERS,
            )
        )
