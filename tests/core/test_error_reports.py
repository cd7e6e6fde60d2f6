"""Django's error reports (debug page, admin mails) never show a POST value or a local variable's value."""

from __future__ import annotations

import sys

from django.test import RequestFactory
from django.utils.log import AdminEmailHandler
from django.views.debug import technical_500_response

CLEARTEXT = "-".join(["hunter2", "cleartext", "canary"])  # not in the source lines a report shows


def push_with_cleartext(spec: dict) -> None:
    token = CLEARTEXT  # noqa: F841 - the local a debug page would show
    raise RuntimeError("the cluster answered something unexpected")


def failing_request():
    request = RequestFactory().post("/jobs/new/", {"name": "x", "row-0-value": CLEARTEXT})
    try:
        push_with_cleartext({"Env": {"TOKEN": CLEARTEXT}})
    except RuntimeError:
        return request, sys.exc_info()
    raise AssertionError("no error")


def test_the_debug_page_shows_the_traceback_but_no_secret_value(settings):
    settings.DEBUG = True
    request, exc_info = failing_request()
    page = technical_500_response(request, *exc_info).content.decode()
    assert "push_with_cleartext" in page and "the cluster answered something unexpected" in page
    assert CLEARTEXT not in page
    assert "row-0-value" in page  # the name of the field stays, its value does not


def test_admin_mails_show_no_secret_value(settings, mailoutbox):
    settings.ADMINS = [("ops", "ops@example.com")]
    settings.DEBUG = False
    request, exc_info = failing_request()
    handler = AdminEmailHandler(include_html=True)
    import logging

    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), exc_info)
    record.request = request
    handler.emit(record)
    assert mailoutbox
    mail = mailoutbox[0]
    assert CLEARTEXT not in mail.body
    assert all(CLEARTEXT not in str(content) for content, _ in mail.alternatives)
