"""striv settings: one module, configured through ``STRIV_*`` environment variables.

Every variable is listed in ``.env.example``. Defaults are safe for a laptop: SQLite under ``./var/``,
debug on only when asked for.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STRIV_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("STRIV_DEBUG", False)

SECRET_KEY = env_str("STRIV_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("STRIV_SECRET_KEY must be set when STRIV_DEBUG is off")
    SECRET_KEY = "striv-insecure-development-key"

ALLOWED_HOSTS = env_list("STRIV_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("STRIV_CSRF_TRUSTED_ORIGINS", [])

# Hardening for a server behind HTTPS; off by default so that `make run` works on http://localhost. The production
# values in .env.example make `manage.py check --deploy` clean.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("STRIV_SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = env_bool("STRIV_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("STRIV_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("STRIV_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("STRIV_HSTS_PRELOAD", False)
if env_bool("STRIV_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets X-Forwarded-Proto itself (and strips a client's): otherwise anyone could claim
    # HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "striv.core",
    "striv.executions",
    "striv.dimensions",
    "striv.jobs",
    "striv.runs",
    "striv.state",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "striv.core.middleware.api_no_store",
]

ROOT_URLCONF = "striv.urls"
WSGI_APPLICATION = "striv.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("STRIV_DATABASE_URL")
if not DATABASE_URL:
    # The embedded default: a SQLite file in ./var/, created on first use.
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sqlite_file = VAR_DIR / "striv.sqlite3"
    if not _sqlite_file.exists():
        # Created here with mode 0600 (SQLite gives its journal files the same mode): it holds password hashes,
        # tokens and ciphertexts, which other users of the machine have no business reading.
        os.close(os.open(_sqlite_file, os.O_WRONLY | os.O_CREAT, 0o600))
    DATABASE_URL = f"sqlite:///{_sqlite_file}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("STRIV_DB_CONN_MAX_AGE", 0))}
_engine = DATABASES["default"]["ENGINE"]
if _engine.endswith("mysql"):
    # utf8mb4 so that any param text round-trips; strict mode so bad data is an error, not a warning.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"}
    )
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _engine.endswith("sqlite3"):
    # Immediate transactions take the write lock when they begin, and writers wait up to `timeout` seconds for it:
    # a deferred transaction that reads and then writes fails at once with "database is locked" when another
    # writer got there first. WAL lets readers go on while one writer writes. Writers keep their transactions
    # short (no cluster call inside one), so the wait stays short too.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("STRIV_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STRIV_STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Error reports (debug page, admin mails) show no POST value and no local variable: either may hold a cleartext.
DEFAULT_EXCEPTION_REPORTER_FILTER = "striv.core.errors.SecretsExceptionReporterFilter"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Secrets: an RSA private key (PEM, PKCS8) given inline or as a file path.
ENCRYPTION_KEY = env_str("STRIV_ENCRYPTION_KEY")
ENCRYPTION_KEY_FILE = env_str("STRIV_ENCRYPTION_KEY_FILE")
if ENCRYPTION_KEY and ENCRYPTION_KEY_FILE:
    raise ImproperlyConfigured("Set only one of STRIV_ENCRYPTION_KEY and STRIV_ENCRYPTION_KEY_FILE")

# Limits of one template evaluation (each runs in a worker process; see striv/templating/sandbox.py): wall-clock
# milliseconds, megabytes of memory, bytes of output (per job of a batch), and worker processes per server process.
RENDER_TIME_LIMIT_MS = env_int("STRIV_RENDER_TIME_LIMIT_MS", 2000)
RENDER_MEMORY_LIMIT_MB = env_int("STRIV_RENDER_MEMORY_LIMIT_MB", 256)
RENDER_OUTPUT_LIMIT_BYTES = env_int("STRIV_RENDER_OUTPUT_LIMIT_BYTES", 1_000_000)
RENDER_WORKERS = env_int("STRIV_RENDER_WORKERS", 2)

# Where finished runs' logs are archived: file:///dir or s3://bucket/prefix. S3 settings are read only for s3.
ARCHIVE = env_str("STRIV_ARCHIVE") or (VAR_DIR / "archive").resolve().as_uri()
S3_ENDPOINT_URL = env_str("STRIV_S3_ENDPOINT_URL") or None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("STRIV_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# REST API (/api/): token auth for machines, session auth for the UI; roles decide the rest (striv/core/roles.py).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an unauthenticated request gets 401 with "WWW-Authenticate: Token".
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["striv.core.api.base.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["striv.core.api.base.StrictJSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "striv.core.api.base.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "striv.core.api.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "striv.core.api.schema.StrivAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNICODE_JSON": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "striv API",
    "DESCRIPTION": (
        "Jobs, runs, executions and dimensions of striv. Authenticate with a session or 'Authorization: Token <key>' "
        "(manage.py create-token). Errors are application/problem+json (RFC 9457). See docs/api.md."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["striv.core.api.base.RolePermission"],
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets are served by striv itself, so /api/docs/ works without reaching a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SyncStatusEnum": "striv.jobs.models.Job.SyncStatus",
        "RunStatusEnum": "striv.runs.models.Run.Status",
    },
}
