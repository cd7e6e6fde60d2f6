"""Project-level checks: settings from the environment, .env.example, docker-compose.yml, the quick start."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def settings_in_subprocess(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRIV_")}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "striv.settings"
    code = f"import django; from django.conf import settings; django.setup(); print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=clean, capture_output=True, text=True)


def test_missing_secret_key_with_debug_off_is_an_error_at_start_up():
    result = settings_in_subprocess({"STRIV_DEBUG": "false"}, "1")
    assert result.returncode != 0
    assert "STRIV_SECRET_KEY must be set" in result.stderr


def test_debug_mode_runs_without_a_secret_key(tmp_path):
    result = settings_in_subprocess({"STRIV_DEBUG": "true", "STRIV_VAR_DIR": str(tmp_path)}, "settings.DATABASES")
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout and str(tmp_path) in result.stdout


@pytest.mark.parametrize(
    ("url", "engine", "driver"),
    [
        ("postgres://striv:pw@db.internal:5432/striv", "django.db.backends.postgresql", "psycopg2"),
        ("mysql://root@127.0.0.1:3306/striv", "django.db.backends.mysql", "MySQLdb"),
        ("sqlite:////tmp/x.sqlite3", "django.db.backends.sqlite3", "sqlite3"),
    ],
)
def test_database_url_selects_the_backend(url, engine, driver):
    pytest.importorskip(driver, reason=f"{engine} needs the {driver} module, which is not installed")
    result = settings_in_subprocess(
        {"STRIV_SECRET_KEY": "x", "STRIV_DATABASE_URL": url},
        "settings.DATABASES['default']['ENGINE'], "
        "__import__('django.db.utils').db.utils.load_backend(settings.DATABASES['default']['ENGINE']).__name__",
    )
    assert result.stdout.split() == [engine, engine + ".base"], result.stderr


def test_bad_boolean_setting_is_a_clear_error():
    result = settings_in_subprocess({"STRIV_SECRET_KEY": "x", "STRIV_DEBUG": "maybe"}, "1")
    assert "STRIV_DEBUG must be true or false" in result.stderr


def test_env_example_lists_every_setting_read():
    used = set(re.findall(r'env_\w+\(\s*"(STRIV_[A-Z_]+)"', (REPO / "striv" / "settings.py").read_text()))
    used |= set(re.findall(r'"(STRIV_[A-Z_]+)"', (REPO / "striv" / "settings.py").read_text()))
    documented = set(re.findall(r"^(STRIV_[A-Z_]+)=", (REPO / ".env.example").read_text(), re.MULTILINE))
    assert used - documented == set()


def test_docker_compose_file_is_valid_and_has_the_services():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert {"striv", "postgres", "nomad", "refresher"} <= set(compose["services"])
    assert compose["services"]["refresher"]["command"][:3] == ["python", "manage.py", "refresh"]
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed; structure checked only")
    result = subprocess.run([tool, "config", "--quiet"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines() if line.split("#")[0].strip()]
    assert commands == ["make run", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.django_db
def test_migrations_are_complete():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_every_management_command_has_a_call_command_test():
    """Each command under striv/**/management/commands/ is called by name somewhere in tests/."""
    commands = {
        path.stem for path in (REPO / "striv").rglob("management/commands/*.py") if not path.name.startswith("_")
    }
    assert commands, "no management command found"
    sources = "\n".join(path.read_text() for path in (REPO / "tests").rglob("*.py"))
    called = set(re.findall(r"""call_command\(\s*["']([\w-]+)["']""", sources))
    assert sorted(commands - called) == [], "commands without a call_command test"


PRODUCTION = {
    "STRIV_SECRET_KEY": "k3J9-vQ2x!pL8#wZr5Tn0yB6uE1mC7sH4aD9fG2jK5lP8qR3tV6wX9zA2cE5gH8",
    "STRIV_ALLOWED_HOSTS": "striv.example.com",
    "STRIV_CSRF_TRUSTED_ORIGINS": "https://striv.example.com",
    "STRIV_SECURE_COOKIES": "true",
    "STRIV_SSL_REDIRECT": "true",
    "STRIV_HSTS_SECONDS": "31536000",
    "STRIV_HSTS_INCLUDE_SUBDOMAINS": "true",
    "STRIV_HSTS_PRELOAD": "true",
    "STRIV_PROXY_SSL_HEADER": "true",
}


def test_check_deploy_is_clean_with_the_documented_production_variables(tmp_path):
    # Not the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE either: a deployment does not set it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIV_", "DJANGO_"))}
    env.update(PRODUCTION, STRIV_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="striv.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    documented = (REPO / ".env.example").read_text()
    assert all(f"{name}=" in documented for name in PRODUCTION)


def test_api_answers_are_not_stored_by_caches(client, db):
    response = client.get("/api/health")
    assert response["Cache-Control"] == "no-store"


def test_the_default_sqlite_file_and_its_directory_are_private(tmp_path):
    import stat

    var = tmp_path / "var"
    result = settings_in_subprocess({"STRIV_DEBUG": "true", "STRIV_VAR_DIR": str(var)}, "1")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((var / "striv.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
