"""Coinsite settings: one module, configured from the environment (see README "Configuration").

DEBUG off is production mode: every required variable must be set and valid, or start-up fails
with a message naming it. With DATABASE_URL unset (development only) the database is the embedded
PostgreSQL under var/, which the commands that need it start (coinsite/embedded_db.py): importing
settings starts nothing and creates nothing. With CELERY_BROKER_URL unset, Celery runs tasks eagerly.
"""

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from coinsite import embedded_db
from coinsite.devserver import broker_transport_options, browser_host
from coinsite.env import env_bool, env_float, env_int, env_list, env_str, require, var_dir
from coinsite.lib import db_pool
from coinsite.lib.currencies import CURRENCIES as SUPPORTED_CURRENCIES
from coinsite.lib.observability import logging_config, sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir()

DEBUG = env_bool("DEBUG", default=False)
PRODUCTION = not DEBUG

_DEV_SECRET = "insecure-development-key-only-for-debug-mode-0123456789abcdefghijkl"
SECRET_KEY = env_str("SECRET_KEY") or ("" if PRODUCTION else _DEV_SECRET)
if PRODUCTION:
    require("SECRET_KEY", SECRET_KEY)
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == _DEV_SECRET:
        raise ImproperlyConfigured("Environment variable SECRET_KEY is too weak: use at least 50 random characters.")

# Where `make run` serves the development site; SITE_URL follows them unless it is set.
HOST = env_str("HOST") or "127.0.0.1"
PORT = env_int("PORT", 8000)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else sorted({"127.0.0.1", "localhost", browser_host(HOST)}))
if PRODUCTION:
    require("ALLOWED_HOSTS", ALLOWED_HOSTS)
    if "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("Environment variable ALLOWED_HOSTS must not contain '*'.")

SITE_URL = (env_str("SITE_URL") or ("" if PRODUCTION else f"http://{browser_host(HOST)}:{PORT}")).rstrip("/")
if PRODUCTION:
    require("SITE_URL", SITE_URL)
if SITE_URL and urlparse(SITE_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"Environment variable SITE_URL must be an http(s) URL: {SITE_URL!r}.")
if PRODUCTION and urlparse(SITE_URL).scheme != "https":
    raise ImproperlyConfigured("Environment variable SITE_URL must use https when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = [SITE_URL] if SITE_URL else []

INSTALLED_APPS = [
    "backoffice.apps.CoinsiteAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "allauth",
    "backoffice.apps.EmailAddressesConfig",  # allauth.account, named apart from our accounts app
    "django_otp",
    "backoffice.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp
    "backoffice.apps.BackupCodesConfig",  # django_otp.plugins.otp_static
    "djmoney",
    "backoffice.apps.ExchangeRatesConfig",  # djmoney.contrib.exchange
    "django_countries",  # for its catalogues: country names in the viewer's language
    "coinsite.accounts",
    "wallet",
    "gifting",
    "payouts",
    "api",
    "ninja",  # the API docs page's template and its self-hosted Swagger UI files
    "wallet.sandbox.apps.SandboxConfig",
    "bench",
    "backoffice",  # last: its admin replaces registrations made by the apps above (auth's Group, djmoney's Rate)
]

MIDDLEWARE = [
    # First: a request id for every request, and /healthz, /readyz, /metrics answered before anything else.
    "coinsite.operations.OperationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Before anything reads the session, the user or the body: NUL bytes and unusable charsets get a 400.
    "coinsite.lib.request_checks.RefuseMalformedRequests",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the chooser's cookie, else the browser's Accept-Language, else English (no URL prefixes).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # A signed-in person's saved language and time zone win over the browser's (needs request.user).
    "coinsite.accounts.middleware.UserLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "coinsite.accounts.middleware.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]


ROOT_URLCONF = "coinsite.urls"
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"
WSGI_APPLICATION = "coinsite.wsgi.application"
ASGI_APPLICATION = "coinsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "coinsite.context_processors.test_mode",
                "coinsite.context_processors.languages",
                "coinsite.context_processors.support",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _database: dict[str, Any] = {**dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
    except ValueError as error:
        raise ImproperlyConfigured(f"Environment variable DATABASE_URL is invalid: {error}") from None
    if _database.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("Environment variable DATABASE_URL must point at PostgreSQL (postgres://...).")
    _database["CONN_HEALTH_CHECKS"] = True
elif PRODUCTION:
    require("DATABASE_URL", DATABASE_URL)
else:
    _database = embedded_db.database_settings(VAR_DIR)
# A connection pool (psycopg_pool) for the web processes: under ASGI every request runs on its own
# thread, so persistent connections (DB_CONN_MAX_AGE) leak and fresh ones cost a connect per request.
DB_POOL_MAX = env_int("DB_POOL_MAX", 0)
# How long a request waits for a pooled connection before it gives up with a 503 (the database is out).
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 10)
if DB_POOL_MAX < 0:
    raise ImproperlyConfigured("Environment variable DB_POOL_MAX must be 0 (no pool) or a pool size.")
if DB_POOL_MAX:
    _database["CONN_MAX_AGE"] = 0  # Django refuses persistent connections together with a pool
    _database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX,
        "timeout": DB_POOL_TIMEOUT,
        **db_pool.POOL_CALLBACKS,  # no check round trip for a connection handed out moments ago
    }
DATABASES = {"default": _database}

# A streaming replica for pages that tolerate lag (coinsite/lib/replica.py); money never reads it.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    try:
        _replica: dict[str, Any] = {**dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=0)}
    except ValueError as error:
        raise ImproperlyConfigured(f"Environment variable DATABASE_REPLICA_URL is invalid: {error}") from None
    if _replica.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "Environment variable DATABASE_REPLICA_URL must point at PostgreSQL (postgres://...)."
        )
    # A dead replica must cost a page little: connect fast or give up, and fall back to the primary.
    _replica.setdefault("OPTIONS", {})["connect_timeout"] = 2
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["coinsite.lib.replica.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
        "coinsite.lib.replica.ReplicaMiddleware",
    )
# Replica reads need a lag under this; its health is asked at most this often per process; after a
# browser's write its replica pages read the primary until the replica has replayed it, at most this long.
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_CHECK_SECONDS = env_int("REPLICA_CHECK_SECONDS", 2)
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "coinsite.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SIGNUP_FORM_CLASS = "coinsite.accounts.forms.ProfileSignupForm"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Coinsite] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "change_email": "1/m/user",
}
# How long a password/code re-check keeps sensitive pages open (sudo mode).
SUDO_MODE_SECONDS = env_int("SUDO_MODE_SECONDS", 10 * 60)
# Failed 2FA codes allowed in one login attempt before it is abandoned.
TWO_FACTOR_MAX_FAILURES = env_int("TWO_FACTOR_MAX_FAILURES", 5)
OTP_TOTP_ISSUER = "Coinsite"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Cache (rate limits live here) ------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Django's backend with the process's connection pool shared by every request (coinsite/lib/redis_cache.py).
    CACHES = {"default": {"BACKEND": "coinsite.lib.redis_cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# A Redis that stops answering costs a cache call at most this long; then the process does not ask it again for
# REDIS_DOWN_SECONDS, and what needs it answers 503 at once (coinsite/lib/redis_cache.py).
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 0.5)
REDIS_DOWN_SECONDS = env_float("REDIS_DOWN_SECONDS", 2.0)
# Live events travel on Redis pub/sub when REDIS_URL is set (gifting.live); its channel and keys start with this.
LIVE_REDIS_PREFIX = env_str("LIVE_REDIS_PREFIX") or "coinsite:live:"
# The video ingest server creators stream to from OBS (docs/live-video.md: MediaMTX, RTMP in, HLS out): where
# OBS sends (LIVE_INGEST_URL) and where viewers' players fetch each creator's HLS playlist (LIVE_PLAYBACK_URL,
# https). The studio shows both, with each creator's own path on them.
LIVE_INGEST_URL = (env_str("LIVE_INGEST_URL") or "rtmp://localhost:1935").rstrip("/")
LIVE_PLAYBACK_URL = (env_str("LIVE_PLAYBACK_URL") or "https://localhost:8888").rstrip("/")

# The common-case gift in one SQL statement (gifting.services._gift_send_fast). Off only to compare it with the
# general path (tests) or to rule it out while investigating.
GIFT_SEND_FAST_PATH = env_bool("GIFT_SEND_FAST_PATH", default=True)

# --- Internationalisation -----------------------------------------------------------------------
# A language for every country sold in; the catalogues are in locale/ (see locale/README.md).
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("fr", _("French")),
    ("de", _("German")),
    ("es", _("Spanish")),
    ("it", _("Italian")),
    ("nl", _("Dutch")),
    ("pt-br", _("Portuguese (Brazil)")),
    ("ja", _("Japanese")),
    ("ko", _("Korean")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The server's zone; each person sees times in the zone they chose (User.time_zone, UTC by default).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"  # collectstatic creates it (make run too, for whitenoise)
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Mail (Django 6.1 MAILERS) ------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "Coinsite <no-reply@coinsite.local>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
STAFF_ALERT_EMAILS = env_list("STAFF_ALERT_EMAILS", ["staff@coinsite.local"])
# Where people write for help: every "Contact support" link and the footer point here.
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL") or "support@coinsite.local"
if "@" not in SUPPORT_EMAIL or any(char in SUPPORT_EMAIL for char in " \t\r\n<>\"'?&"):
    raise ImproperlyConfigured(f"Environment variable SUPPORT_EMAIL must be an email address: {SUPPORT_EMAIL!r}.")
EMAIL_URL = env_str("EMAIL_URL")
if EMAIL_URL:
    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps", "smtp+tls"} or not _email.hostname:
        raise ImproperlyConfigured("Environment variable EMAIL_URL must look like smtp+tls://user:password@host:587.")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email.hostname,
                "port": _email.port or (465 if _email.scheme == "smtps" else 587),
                "username": _email.username or "",
                "password": _email.password or "",
                "use_tls": _email.scheme == "smtp+tls",
                "use_ssl": _email.scheme == "smtps",
                "timeout": 10,
            },
        }
    }
elif PRODUCTION:
    require("EMAIL_URL", EMAIL_URL)
else:
    MAILERS = {
        "default": {
            "BACKEND": "coinsite.mail.ConsoleAndFileBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or ""
if PRODUCTION:
    require("CELERY_BROKER_URL", CELERY_BROKER_URL)
# A task must finish well inside the visibility timeout, or Redis re-delivers it while it runs.
# A worker killed outright (not just its pool child) leaves its unacknowledged tasks in Redis until
# this timeout passes; then another worker runs them. Shorter recovers sooner, but every task must
# finish well inside it (the time limits below are checked against it).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# A Redis broker that stops answering: kombu waits forever by default, so a request queueing a task after its
# commit held its thread for the whole hang. Above the workers' 1 s BRPOP poll, which must not time out.
CELERY_BROKER_TIMEOUT_SECONDS = env_float("CELERY_BROKER_TIMEOUT_SECONDS", 2.0)
if CELERY_BROKER_TIMEOUT_SECONDS <= 1:
    raise ImproperlyConfigured(
        "Environment variable CELERY_BROKER_TIMEOUT_SECONDS must be above 1 (seconds): "
        "a worker waits up to 1 s for each poll of the Redis queue."
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "socket_timeout": CELERY_BROKER_TIMEOUT_SECONDS,
        "socket_connect_timeout": CELERY_BROKER_TIMEOUT_SECONDS,
    }
if CELERY_BROKER_URL.startswith("filesystem:"):
    if PRODUCTION:
        raise ImproperlyConfigured(
            "Environment variable CELERY_BROKER_URL is filesystem://, which serves one development machine: "
            "use Redis (redis://host:6379/0) when DEBUG is off."
        )
    CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(VAR_DIR)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
if CELERY_TASK_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Environment variable CELERY_TASK_TIME_LIMIT must be below CELERY_VISIBILITY_TIMEOUT, "
        "or Redis hands a task still running to a second worker."
    )
CELERY_TASK_IGNORE_RESULT = True
# Log lines from workers go through LOGGING below (JSON in production, with request and task ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# The top-up sweep asks the provider about a top-up still pending this long (its webhook, or the task that
# applies it, was lost), and runs this often.
TOPUPS_RECHECK_AFTER_SECONDS = env_int("TOPUPS_RECHECK_AFTER_SECONDS", 600)
TOPUPS_SWEEP_SECONDS = env_int("TOPUPS_SWEEP_SECONDS", 300)
# The mail sweeps queue again an email that should have gone (a receipt, a reversal notice, a failed payout's
# notice, a payout method's security notice, an account-freeze notice) once its work finished this long ago and
# it is still unsent: its task was lost, or every retry failed. Longer than a task may run, so one still running
# is not queued twice (its claim would stop the second anyway). Still unsent, it is queued again at twice that
# age, four times, and so on (coinsite.lib.email.resend_due); past EMAILS_RESEND_WITHIN_DAYS a notice is stale,
# and the sweeps leave it alone.
EMAILS_RESEND_AFTER_SECONDS = env_int("EMAILS_RESEND_AFTER_SECONDS", 600)
EMAILS_RESEND_WITHIN_DAYS = env_int("EMAILS_RESEND_WITHIN_DAYS", 3)


def _longer_than_a_task(name: str, seconds: int, *, or_else: str) -> None:
    if seconds <= CELERY_TASK_TIME_LIMIT:
        raise ImproperlyConfigured(f"Environment variable {name} must be above CELERY_TASK_TIME_LIMIT, or {or_else}.")


_longer_than_a_task(
    "EMAILS_RESEND_AFTER_SECONDS",
    EMAILS_RESEND_AFTER_SECONDS,
    or_else="the mail sweeps queue again an email whose task is still running",
)
ACCOUNTS_EMAILS_SWEEP_SECONDS = 5 * 60
CELERY_BEAT_SCHEDULE: dict = {
    "purge-abandoned-2fa-setups": {
        "task": "coinsite.accounts.tasks.purge_abandoned_two_factor_setups",
        "schedule": 6 * 60 * 60,
    },
    "apply-due-country-changes": {"task": "coinsite.accounts.tasks.country_changes_apply_due", "schedule": 60 * 60},
    # Emails whose task died mid-send, sent again (coinsite.accounts.email_claims).
    "emails-in-flight-sweep": {"task": "coinsite.accounts.tasks.emails_in_flight_sweep", "schedule": 5 * 60},
    # Creator application decisions whose email task was lost, or refused by the broker, queued again.
    "accounts-emails-sweep": {
        "task": "coinsite.accounts.tasks.creator_application_emails_sweep",
        "schedule": ACCOUNTS_EMAILS_SWEEP_SECONDS,
    },
    # The audit is idempotent per calendar day, so a beat restart re-running it is harmless.
    "wallet-ledger-audit-daily": {"task": "wallet.tasks.ledger_audit_daily", "schedule": 24 * 60 * 60},
    "wallet-ledger-rollup-balances": {"task": "wallet.tasks.ledger_rollup_balances", "schedule": 60},
    "wallet-topup-sweep": {"task": "wallet.tasks.topup_sweep_pending", "schedule": TOPUPS_SWEEP_SECONDS},
    "wallet-emails-sweep": {"task": "wallet.tasks.wallet_emails_sweep", "schedule": TOPUPS_SWEEP_SECONDS},
}

# --- Public API and webhooks (api/) --------------------------------------------------------------
# Requests per access token (or per logged-in user) and window; a 429 with Retry-After past them.
API_RATE_LIMIT_PER_SECOND = env_int("API_RATE_LIMIT_PER_SECOND", 20)
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)
# Webhook endpoints must be public https URLs; development may point them at a local http receiver.
API_WEBHOOKS_ALLOW_LOCAL = env_bool("API_WEBHOOKS_ALLOW_LOCAL", default=DEBUG)
API_WEBHOOKS_TIMEOUT = env_int("API_WEBHOOKS_TIMEOUT", 5)
API_WEBHOOKS_TRANSPORT = "api.webhooks.urllib_transport"
CELERY_BEAT_SCHEDULE["api-webhooks-dispatch"] = {"task": "api.tasks.webhooks_dispatch", "schedule": 2.0}
# Disabled-endpoint emails whose task was lost, or refused by the broker, queued again (api.webhooks).
API_WEBHOOK_EMAILS_SWEEP_SECONDS = 5 * 60
CELERY_BEAT_SCHEDULE["api-webhook-emails-sweep"] = {
    "task": "api.tasks.webhook_emails_sweep",
    "schedule": API_WEBHOOK_EMAILS_SWEEP_SECONDS,
}

# --- Security ---------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Django's database sessions, read with a prepared statement on every request (coinsite/lib/sessions.py).
SESSION_ENGINE = "coinsite.lib.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Operations (coinsite/operations.py, docs/operations.md) -----------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT") or ("json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"Environment variable LOG_FORMAT must be 'json' or 'text', got {LOG_FORMAT!r}.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL") or "INFO")
# /metrics answers only with "Authorization: Bearer <METRICS_TOKEN>"; unset, it answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("Environment variable METRICS_TOKEN is too short: use at least 16 random characters.")
SENTRY_DSN = env_str("SENTRY_DSN") or ""
if SENTRY_DSN:
    try:
        _traces = float(env_str("SENTRY_TRACES_SAMPLE_RATE") or "0")
    except ValueError:
        raise ImproperlyConfigured(
            "Environment variable SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1."
        ) from None
    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT") or ("production" if PRODUCTION else "development"),
        release=env_str("SENTRY_RELEASE"),
        traces_sample_rate=_traces,
    )

# --- Payments ---------------------------------------------------------------------------------
# Production refuses the built-in sandbox providers (a test card would buy coins, payouts would only
# be pretended) unless a staging site asks for them; every page then carries a test-mode banner.
ALLOW_SANDBOX_PROVIDERS = env_bool("ALLOW_SANDBOX_PROVIDERS", default=False)


def _refuse_sandbox_in_production(name: str, consequence: str, instead: str) -> None:
    if PRODUCTION and (env_str(name) or "sandbox") == "sandbox" and not ALLOW_SANDBOX_PROVIDERS:
        value = "is 'sandbox'" if env_str(name) else "is not set, so it is 'sandbox',"
        raise ImproperlyConfigured(
            f"Environment variable {name} {value} with DEBUG off: {consequence}. "
            f"Set {instead}, or ALLOW_SANDBOX_PROVIDERS=true on a staging site (pages then say it is in test mode)."
        )


# Which provider takes top-up payments: "sandbox" (built-in test checkout, the default) or "stripe".
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER") or "sandbox"
if PAYMENT_PROVIDER not in {"sandbox", "stripe"}:
    raise ImproperlyConfigured(
        f"Environment variable PAYMENT_PROVIDER must be 'sandbox' or 'stripe', got {PAYMENT_PROVIDER!r}."
    )
_refuse_sandbox_in_production("PAYMENT_PROVIDER", "test cards would buy coins", "PAYMENT_PROVIDER=stripe")
# How long a hosted checkout stays payable (Stripe accepts 30 minutes to 24 hours).
PAYMENT_CHECKOUT_MINUTES = env_int("PAYMENT_CHECKOUT_MINUTES", 60)
if not 30 <= PAYMENT_CHECKOUT_MINUTES <= 24 * 60:
    raise ImproperlyConfigured("Environment variable PAYMENT_CHECKOUT_MINUTES must be between 30 and 1440.")

_DEV_SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret-for-development-only"
SANDBOX_WEBHOOK_SECRET = env_str("SANDBOX_WEBHOOK_SECRET") or ("" if PRODUCTION else _DEV_SANDBOX_WEBHOOK_SECRET)
if PRODUCTION and PAYMENT_PROVIDER == "sandbox":
    require("SANDBOX_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET, why="the sandbox provider signs its webhooks with it")
SANDBOX_WEBHOOK_URL = env_str("SANDBOX_WEBHOOK_URL") or f"{SITE_URL}/wallet/webhooks/sandbox/"
SANDBOX_WEBHOOK_TIMEOUT = env_int("SANDBOX_WEBHOOK_TIMEOUT", 5)
SANDBOX_WEBHOOK_TRANSPORT = "wallet.sandbox.webhooks.urllib_transport"

STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY") or ""
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET") or ""
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY") or ""
if PAYMENT_PROVIDER == "stripe":
    _why = "PAYMENT_PROVIDER is 'stripe'"
    require("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY, why=_why)
    require("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET, why=_why)

CELERY_BEAT_SCHEDULE["sandbox-expire-sessions"] = {
    "task": "wallet.sandbox.tasks.sandbox_expire_sessions",
    "schedule": 60,
}
# --- end Payments -----------------------------------------------------------------------------

# --- Payouts ----------------------------------------------------------------------------------
# Who sends creators' money: "sandbox" (built-in, settles a few seconds later; the default) or
# "paypal" (PayPal Payouts). Each implements payouts.providers.PayoutProvider.
PAYOUT_PROVIDER = env_str("PAYOUT_PROVIDER") or "sandbox"
if PAYOUT_PROVIDER not in {"sandbox", "paypal"}:
    raise ImproperlyConfigured(
        f"Environment variable PAYOUT_PROVIDER must be 'sandbox' or 'paypal', got {PAYOUT_PROVIDER!r}."
    )
_refuse_sandbox_in_production(
    "PAYOUT_PROVIDER",
    "creators' payouts would only be simulated",
    "PAYOUT_PROVIDER=paypal (and the PAYPAL_* variables)",
)
PAYPAL_CLIENT_ID = env_str("PAYPAL_CLIENT_ID") or ""
PAYPAL_CLIENT_SECRET = env_str("PAYPAL_CLIENT_SECRET") or ""
PAYPAL_MODE = env_str("PAYPAL_MODE") or ""
if PAYOUT_PROVIDER == "paypal":
    _why = "PAYOUT_PROVIDER is 'paypal'"
    require("PAYPAL_CLIENT_ID", PAYPAL_CLIENT_ID, why=_why)
    require("PAYPAL_CLIENT_SECRET", PAYPAL_CLIENT_SECRET, why=_why)
    require("PAYPAL_MODE", PAYPAL_MODE, why=f"{_why} (sandbox for PayPal's test site, live for real payouts)")
    if PAYPAL_MODE not in {"sandbox", "live"}:
        raise ImproperlyConfigured(
            f"Environment variable PAYPAL_MODE must be 'sandbox' or 'live', got {PAYPAL_MODE!r}."
        )
PAYPAL_TIMEOUT = env_int("PAYPAL_TIMEOUT", 20)

# Which side moves no real money, for the test-mode banner (coinsite/context_processors.py).
TEST_MODE_PAYMENTS = PAYMENT_PROVIDER == "sandbox" or STRIPE_SECRET_KEY.startswith(("sk_test_", "rk_test_"))
TEST_MODE_PAYOUTS = PAYOUT_PROVIDER == "sandbox" or PAYPAL_MODE == "sandbox"
EXCHANGE_BACKEND = "payouts.exchange.FixedRatesBackend"
# django-money's currency pickers (admin's price, rate and settings forms) offer only the currencies Coinsite
# deals in (coinsite.lib.currencies), not every historic ISO currency py-moneyed knows.
CURRENCIES = list(SUPPORTED_CURRENCIES)
# The payout sweep queues again a payout whose task was lost, once untouched this long, and runs this often.
# A task is lost when a worker dies between taking its message from Redis and recording that it holds it
# (kombu's Redis transport takes it, then records it, in two round trips): the visibility timeout cannot
# give back what was never recorded. Longer than a task may run, so a running one is not queued twice.
PAYOUTS_STUCK_AFTER_SECONDS = env_int("PAYOUTS_STUCK_AFTER_SECONDS", 600)
PAYOUTS_SWEEP_SECONDS = env_int("PAYOUTS_SWEEP_SECONDS", 300)
_longer_than_a_task(
    "PAYOUTS_STUCK_AFTER_SECONDS",
    PAYOUTS_STUCK_AFTER_SECONDS,
    or_else="the sweep queues again a payout whose task is still running",
)
CELERY_BEAT_SCHEDULE.update(
    {
        "payouts-sweep": {"task": "payouts.tasks.payouts_sweep", "schedule": PAYOUTS_SWEEP_SECONDS},
        "payouts-earnings-rollup": {"task": "payouts.tasks.earnings_rollup", "schedule": 60},
        "payouts-statements-sweep": {"task": "payouts.tasks.statements_sweep", "schedule": 15 * 60},
        # Statements for the month that just ended; re-running a month sends nothing twice.
        "payouts-monthly-statements": {
            "task": "payouts.tasks.statements_send_monthly",
            "schedule": crontab(day_of_month="1", hour="6", minute="0"),
        },
    }
)
