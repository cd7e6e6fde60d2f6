"""Settings for the test suite: striv's settings with test-safe environment defaults."""

import os

os.environ.setdefault("STRIV_SECRET_KEY", "striv-test-secret-key")
os.environ.setdefault("STRIV_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from striv.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not the in-memory default: an in-memory database is one connection shared by every thread, so tests
    # of concurrent requests against the live server would not be concurrent at all.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["STRIV_VAR_DIR"], "test.sqlite3")}  # noqa: F405
