"""Production mode refuses to start on a bad environment; a good one passes check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from coinsite.env import env_float

ROOT = Path(__file__).resolve().parents[2]
CONFIG_VARS = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "REDIS_URL",
    "SANDBOX_WEBHOOK_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "PAYMENT_PROVIDER",
    "PAYOUT_PROVIDER",
    "PAYPAL_CLIENT_ID",
    "PAYPAL_CLIENT_SECRET",
    "PAYPAL_MODE",
    "ALLOW_SANDBOX_PROVIDERS",
    "HOST",
    "PORT",
    "SUPPORT_EMAIL",
]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p9#x2!kq7$wz4@lm8^rt6&yv3*ub5(nc1)ej0_hs-gd+fa=ZQ-r7Lw3Vn8",
    "ALLOWED_HOSTS": "coinsite.example",
    "SITE_URL": "https://coinsite.example",
    "DATABASE_URL": "postgres://coinsite:secret@db.internal:5432/coinsite",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example:587",
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_example0123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_example0123456789",
    "PAYOUT_PROVIDER": "paypal",
    "PAYPAL_CLIENT_ID": "AbCdEf-paypal-client-id",
    "PAYPAL_CLIENT_SECRET": "EfGhIj-paypal-client-secret",
    "PAYPAL_MODE": "live",
}


def _run(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_VARS}
    env.update(env_overrides)
    env["COINSITE_VAR_DIR"] = str(ROOT / "var" / "settings-test")
    command = args or ("-c", "import django; django.setup()")
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _without(name: str) -> dict:
    return {key: value for key, value in PRODUCTION.items() if key != name}


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL"]
)
def test_production_mode_refuses_to_start_without_a_required_variable(name):
    result = _run({**_without(name), "DJANGO_SETTINGS_MODULE": "coinsite.settings"})

    assert result.returncode != 0
    assert f"Environment variable {name} is not set" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must not contain '*'"),
        ({"SITE_URL": "http://coinsite.example"}, "SITE_URL must use https"),
        ({"SITE_URL": "coinsite.example"}, "SITE_URL must be an http(s) URL"),
        ({"DATABASE_URL": "mysql://u:p@db/x"}, "DATABASE_URL must point at PostgreSQL"),
        ({"EMAIL_URL": "pigeon://coop"}, "EMAIL_URL must look like"),
        ({"SUDO_MODE_SECONDS": "ten"}, "SUDO_MODE_SECONDS must be an integer"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL is filesystem://, which serves one development"),
        ({"PAYOUT_PROVIDER": "wire"}, "PAYOUT_PROVIDER must be 'sandbox' or 'paypal', got 'wire'"),
        ({"PAYPAL_MODE": "test"}, "PAYPAL_MODE must be 'sandbox' or 'live', got 'test'"),
        ({"ALLOW_SANDBOX_PROVIDERS": "perhaps"}, "ALLOW_SANDBOX_PROVIDERS must be a boolean"),
        ({"SUPPORT_EMAIL": "help desk"}, "SUPPORT_EMAIL must be an email address"),
        ({"SUPPORT_EMAIL": "help@x.example?subject=hi"}, "SUPPORT_EMAIL must be an email address"),
        ({"PAYOUTS_STUCK_AFTER_SECONDS": "300"}, "PAYOUTS_STUCK_AFTER_SECONDS must be above CELERY_TASK_TIME_LIMIT"),
        ({"EMAILS_RESEND_AFTER_SECONDS": "300"}, "EMAILS_RESEND_AFTER_SECONDS must be above CELERY_TASK_TIME_LIMIT"),
        ({"EMAILS_RESEND_WITHIN_DAYS": "three"}, "EMAILS_RESEND_WITHIN_DAYS must be an integer"),
        ({"CELERY_BROKER_TIMEOUT_SECONDS": "1"}, "CELERY_BROKER_TIMEOUT_SECONDS must be above 1 (seconds)"),
        ({"CELERY_BROKER_TIMEOUT_SECONDS": "soon"}, "CELERY_BROKER_TIMEOUT_SECONDS must be a number"),
    ],
)
def test_production_mode_names_the_bad_variable(overrides, message):
    result = _run({**PRODUCTION, **overrides, "DJANGO_SETTINGS_MODULE": "coinsite.settings"})

    assert result.returncode != 0
    assert message in result.stderr


def test_a_redis_broker_gets_socket_timeouts_so_a_hung_one_cannot_hold_a_request_forever():
    show = "from django.conf import settings; print(sorted(settings.CELERY_BROKER_TRANSPORT_OPTIONS.items()))"
    result = _run(
        {**PRODUCTION, "CELERY_BROKER_TIMEOUT_SECONDS": "3.5", "DJANGO_SETTINGS_MODULE": "coinsite.settings"},
        "-c",
        f"import django; django.setup(); {show}",
    )

    assert result.returncode == 0, result.stderr
    expected = [("socket_connect_timeout", 3.5), ("socket_timeout", 3.5), ("visibility_timeout", 3600)]
    assert result.stdout.strip() == str(expected)


def test_check_deploy_is_clean_in_production_configuration():
    result = _run(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("name", ["PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_MODE"])
def test_the_paypal_payout_provider_needs_its_credentials_and_mode(name):
    result = _run({**_without(name), "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "coinsite.settings"})

    assert result.returncode != 0
    assert f"Environment variable {name} is not set: PAYOUT_PROVIDER is 'paypal'" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"PAYMENT_PROVIDER": "sandbox"},
            "Environment variable PAYMENT_PROVIDER is 'sandbox' with DEBUG off: test cards would buy coins. "
            "Set PAYMENT_PROVIDER=stripe, or ALLOW_SANDBOX_PROVIDERS=true on a staging site",
        ),
        (
            {"PAYMENT_PROVIDER": ""},
            "Environment variable PAYMENT_PROVIDER is not set, so it is 'sandbox', with DEBUG off",
        ),
        (
            {"PAYOUT_PROVIDER": "sandbox"},
            "Environment variable PAYOUT_PROVIDER is 'sandbox' with DEBUG off: creators' payouts would only be "
            "simulated. Set PAYOUT_PROVIDER=paypal (and the PAYPAL_* variables), or ALLOW_SANDBOX_PROVIDERS=true",
        ),
        (
            {"PAYOUT_PROVIDER": ""},
            "Environment variable PAYOUT_PROVIDER is not set, so it is 'sandbox', with DEBUG off",
        ),
        (
            {"PAYMENT_PROVIDER": "sandbox", "PAYOUT_PROVIDER": "sandbox", "ALLOW_SANDBOX_PROVIDERS": "false"},
            "Environment variable PAYMENT_PROVIDER is 'sandbox' with DEBUG off",
        ),
    ],
)
def test_production_refuses_to_start_with_a_sandbox_provider(overrides, message):
    result = _run({**PRODUCTION, **overrides, "DJANGO_SETTINGS_MODULE": "coinsite.settings"})

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_a_staging_site_may_run_the_sandboxes_when_it_says_so_explicitly():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PAYMENT_PROVIDER, s.PAYOUT_PROVIDER, s.TEST_MODE_PAYMENTS, s.TEST_MODE_PAYOUTS)"
    )
    staging = {
        **PRODUCTION,
        "PAYMENT_PROVIDER": "sandbox",
        "PAYOUT_PROVIDER": "sandbox",
        "SANDBOX_WEBHOOK_SECRET": "whsec-0123456789abcdef",
        "ALLOW_SANDBOX_PROVIDERS": "true",
        "DJANGO_SETTINGS_MODULE": "coinsite.settings",
    }

    result = _run(staging, "-c", probe)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sandbox", "sandbox", "True", "True"]


def test_live_providers_are_not_test_mode_and_test_keys_are():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.TEST_MODE_PAYMENTS, s.TEST_MODE_PAYOUTS)"
    )
    live = _run({**PRODUCTION, "DJANGO_SETTINGS_MODULE": "coinsite.settings"}, "-c", probe)
    test_keys = _run(
        {
            **PRODUCTION,
            "STRIPE_SECRET_KEY": "sk_test_example0123456789",
            "PAYPAL_MODE": "sandbox",
            "DJANGO_SETTINGS_MODULE": "coinsite.settings",
        },
        "-c",
        probe,
    )

    assert live.returncode == 0, live.stderr
    assert live.stdout.split() == ["False", "False"]
    assert test_keys.returncode == 0, test_keys.stderr
    assert test_keys.stdout.split() == ["True", "True"]


@pytest.mark.parametrize(
    ("env", "site_url", "allowed_hosts"),
    [
        ({}, "http://127.0.0.1:8000", ["127.0.0.1", "localhost"]),
        ({"PORT": "8123"}, "http://127.0.0.1:8123", ["127.0.0.1", "localhost"]),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000", ["127.0.0.1", "localhost"]),
        (
            {"HOST": "coinsite.test", "PORT": "8001"},
            "http://coinsite.test:8001",
            ["127.0.0.1", "coinsite.test", "localhost"],
        ),
        ({"PORT": "8123", "SITE_URL": "https://dev.example"}, "https://dev.example", ["127.0.0.1", "localhost"]),
    ],
)
def test_in_development_site_url_follows_host_and_port(env, site_url, allowed_hosts):
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SITE_URL, s.SANDBOX_WEBHOOK_URL, s.CSRF_TRUSTED_ORIGINS[0], ','.join(s.ALLOWED_HOSTS))"
    )
    result = _run(
        {
            "DEBUG": "true",
            "DATABASE_URL": PRODUCTION["DATABASE_URL"],
            "DJANGO_SETTINGS_MODULE": "coinsite.settings",
            **env,
        },
        "-c",
        probe,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        site_url,
        f"{site_url}/wallet/webhooks/sandbox/",
        site_url,
        ",".join(allowed_hosts),
    ]


def test_a_bad_port_is_named():
    result = _run({"DEBUG": "true", "PORT": "eighty", "DJANGO_SETTINGS_MODULE": "coinsite.settings"})

    assert result.returncode != 0
    assert "PORT must be an integer, got 'eighty'" in result.stderr


def test_check_deploy_warns_when_production_takes_sandbox_payments():
    sandbox = {
        **PRODUCTION,
        "PAYMENT_PROVIDER": "sandbox",
        "SANDBOX_WEBHOOK_SECRET": "whsec-0123456789abcdef",
        "ALLOW_SANDBOX_PROVIDERS": "true",
    }

    result = _run(sandbox, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "paysandbox.W001" in result.stderr


def test_production_settings_turn_on_secure_cookies_hsts_and_csp():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000, "
        "s.SECURE_SSL_REDIRECT, __import__('django.utils.csp').utils.csp.CSP.NONCE in s.SECURE_CSP['script-src'], "
        "s.CELERY_TASK_ALWAYS_EAGER, s.MAILERS['default']['BACKEND'].endswith('smtp.EmailBackend'))"
    )
    result = _run({**PRODUCTION, "DJANGO_SETTINGS_MODULE": "coinsite.settings"}, "-c", probe)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True", "True", "False", "True"]


def test_a_pool_size_turns_on_psycopgs_connection_pool():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; p = d['OPTIONS']['pool'];"
        "print(d['CONN_MAX_AGE'], p['max_size'], p['check'].__qualname__, p.get('reset'))"
    )
    result = _run(
        {**PRODUCTION, "DB_POOL_MAX": "8", "DB_CONN_MAX_AGE": "60", "DJANGO_SETTINGS_MODULE": "coinsite.settings"},
        "-c",
        probe,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "8", "connection_check", "None"]

    refused = _run({**PRODUCTION, "DB_POOL_MAX": "-1"})
    assert refused.returncode != 0
    assert "DB_POOL_MAX" in refused.stderr


def test_with_redis_the_cache_shares_one_connection_pool_per_process():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; print(s.CACHES['default']['BACKEND'])"
    )
    env = {**PRODUCTION, "REDIS_URL": "redis://redis.internal:6379/1", "DJANGO_SETTINGS_MODULE": "coinsite.settings"}
    result = _run(env, "-c", probe)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "coinsite.lib.redis_cache.RedisCache"


def test_the_payout_top_up_and_mail_sweeps_run_as_often_as_configured():
    schedule = "from django.conf import settings; s = settings.CELERY_BEAT_SCHEDULE"
    sweeps = "s['payouts-sweep']['schedule'], s['wallet-topup-sweep']['schedule'], s['wallet-emails-sweep']['schedule']"
    show = f"{schedule}; print({sweeps})"
    development = {"DEBUG": "true", "DJANGO_SETTINGS_MODULE": "coinsite.settings"}
    defaults = _run(development, "-c", f"import django; django.setup(); {show}")
    configured = _run(
        {**development, "PAYOUTS_SWEEP_SECONDS": "30", "TOPUPS_SWEEP_SECONDS": "45"},
        "-c",
        f"import django; django.setup(); {show}",
    )

    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.split() == ["300", "300", "300"]
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.split() == ["30", "45", "45"]


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "nan", "inf"])
def test_a_number_setting_refuses_what_is_not_a_positive_number(raw, monkeypatch):
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", raw)

    with pytest.raises(ImproperlyConfigured, match=f"REDIS_TIMEOUT_SECONDS must be a .*number, got '{raw}'"):
        env_float("REDIS_TIMEOUT_SECONDS", 0.5)


def test_a_number_setting_reads_decimals_and_defaults_when_unset(monkeypatch):
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", "0.25")
    assert env_float("REDIS_TIMEOUT_SECONDS", 0.5) == 0.25
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", " ")
    assert env_float("REDIS_TIMEOUT_SECONDS", 0.5) == 0.5
