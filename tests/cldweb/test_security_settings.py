"""Production settings: with DEBUG=0 and secrets from the environment, `check --deploy` has nothing to say."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLD_", "DJANGO_")) and key not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "cldweb.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "cld.example.com",
        "CLD_DATA_DIR": str(tmp_path),
    })
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_it_passes_the_deploy_check_in_production(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_reads_the_proxy_ssl_header_from_the_environment(tmp_path):
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER, settings.SECURE_SSL_REDIRECT)"
    env = production_env(tmp_path, CLD_PROXY_SSL_HEADER="X-Forwarded-Proto: https")

    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https') True"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ({"CLD_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "CLD_PROXY_SSL_HEADER"),
])
def test_it_fails_loudly_on_missing_or_bad_production_settings(tmp_path, overrides, message):
    result = manage(production_env(tmp_path, **overrides), "check")

    assert result.returncode != 0
    assert message in result.stderr


def test_it_warns_when_production_turns_https_off(tmp_path):
    env = production_env(tmp_path, CLD_SSL_REDIRECT="0", CLD_SECURE_COOKIES="0", CLD_HSTS_SECONDS="0")

    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W012" in result.stderr and "security.W004" in result.stderr
