"""Django's error reports (the debug page, admin mails, logged reports) without secret values.

Django's default filter hides settings whose names look secret and POST fields marked sensitive. A striv request
may hold cleartext anywhere else: a secret typed into the job form (encrypted only once the form is read), a
rendered spec in push mode, a decrypted driver token. So the reports striv makes show no POST value and no local
variable of any frame, only their names: the traceback and source lines still say where it failed, which is what
`make run` (DEBUG on) needs.
"""

from __future__ import annotations

from typing import Any

from django.views.debug import SafeExceptionReporterFilter


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Cleanses every POST value and every frame variable of an error report, whatever its name."""

    def is_active(self, request: Any) -> bool:
        return True  # also with DEBUG on: the debug page is where a forced 500 would show cleartext

    def get_post_parameters(self, request: Any) -> Any:
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for name in cleansed:
            cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
