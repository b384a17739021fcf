"""Django settings for cld, read from the environment through cldweb.env helpers.

Every knob a deployment may turn is an environment variable; defaults suit the
local demo (DEBUG on, SQLite and uploads under ./var, Redis on localhost).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cldweb.env import env_bool, env_int, env_list, env_str
from cldweb.lib.secret_key import read_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

# Off unless asked for: `./cld start` exports DEBUG=0 unless the developer set DEBUG=1, because
# Django's debug pages list every URL pattern and settings to anyone who mistypes a URL.
# (Still on by default for bare manage.py commands and tests, which run on a developer's machine.)
DEBUG = env_bool("DEBUG", True)

# Where `./cld start` keeps the key it generated (CLD_DATA_DIR/secret_key, mode 0600, reused on
# every restart so sessions survive). SECRET_KEY in the environment wins over the file.
_secret_key_file = env_str("CLD_SECRET_KEY_FILE", "-")
if os.environ.get("SECRET_KEY"):
    SECRET_KEY = env_str("SECRET_KEY")
elif _secret_key_file != "-":
    try:
        SECRET_KEY = read_or_create_secret_key(Path(_secret_key_file).resolve())
    except (OSError, ValueError) as error:
        raise ImproperlyConfigured(f"CLD_SECRET_KEY_FILE: {error}") from None
elif DEBUG:
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
else:
    SECRET_KEY = env_str("SECRET_KEY")  # no default outside DEBUG: fails loudly when missing

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Everything the app writes: database (SQLite default), uploads, runs, caches, imported teachers.
CLD_DATA_DIR = Path(env_str("CLD_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = CLD_DATA_DIR / "media"  # uploads; outside static, never served directly
MEDIA_URL = "/media/"  # not routed: corpora are only read by the app
CLD_RUNS_DIR = CLD_DATA_DIR / "runs"  # one output_dir per Run: runs/<id>/
CLD_SCRATCH_DIR = CLD_DATA_DIR / "scratch"  # short-lived work files (an upload's rows while it is analysed)
CLD_TEACHER_CACHE_DIR = CLD_DATA_DIR / "teacher-cache"  # teacher logits shared by all runs
CLD_TEACHERS_DIR = CLD_DATA_DIR / "teachers"  # imported teachers (import_teacher) live here
CLD_MAX_UPLOAD_BYTES = env_int("CLD_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)  # one corpus file
CLD_MAX_TEXT_CHARS = env_int("CLD_MAX_TEXT_CHARS", 10_000, minimum=1)  # longer texts are rejected by line
CLD_MAX_CHECKPOINT_BYTES = env_int("CLD_MAX_CHECKPOINT_BYTES", 2 * 1024**3, minimum=1)  # one teacher zip upload
CLD_MAX_CHECKPOINT_UNPACKED_BYTES = env_int("CLD_MAX_CHECKPOINT_UNPACKED_BYTES", 4 * 1024**3, minimum=1)  # what it may unzip to
CLD_MAX_CHECKPOINT_MEMBERS = env_int("CLD_MAX_CHECKPOINT_MEMBERS", 200, minimum=1)  # files in a teacher zip
CLD_PREDICT_MAX_TEXTS = env_int("CLD_PREDICT_MAX_TEXTS", 100, minimum=1)  # texts per prediction request (playground or API)
CLD_PREDICTOR_CACHE_SIZE = env_int("CLD_PREDICTOR_CACHE_SIZE", 4, minimum=1)  # exported students kept loaded per process
# Runs whose teacher the playground keeps loaded per process; a bert-base teacher holds ~400 MB.
CLD_TEACHER_CACHE_SIZE = env_int("CLD_TEACHER_CACHE_SIZE", 2, minimum=1)
CLD_HUB_HOST = env_str("CLD_HUB_HOST", "huggingface.co")  # probed (TCP, ~1 s) to say whether hub teachers can be fetched

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

INSTALLED_APPS = [
    "daphne",  # runserver speaks ASGI (WebSockets) in development
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "cldweb",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cldweb.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "cldweb.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{CLD_DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CLD_DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (not :memory:) so the Celery worker and daphne subprocesses see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(CLD_DATA_DIR / "test-db.sqlite3")}
    # Worker and web write concurrently: wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Internationalisation: Simplified Chinese first (the audience), English second.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The Plotly bundle comes from the installed plotly package (never a CDN):
# {% static 'plotly/plotly.min.js' %}. Located without importing plotly (~0.1 s in every process).
_plotly_spec = importlib.util.find_spec("plotly")
if _plotly_spec is None or not _plotly_spec.submodule_search_locations:
    raise ImproperlyConfigured("the plotly package is not installed; run ./cld start to install requirements")
PLOTLY_PACKAGE_DATA = Path(_plotly_spec.submodule_search_locations[0]).resolve() / "package_data"
if not (PLOTLY_PACKAGE_DATA / "plotly.min.js").is_file():
    raise ImproperlyConfigured(f"plotly.min.js not found in {PLOTLY_PACKAGE_DATA}; reinstall plotly")
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", str(PLOTLY_PACKAGE_DATA))]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True  # serve straight from STATICFILES_DIRS without collectstatic in the demo

# Uploads: Django streams anything over 2.5 MB to a temporary file in chunks.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o600

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 times out socket reads after 5 s by default, exactly channels_redis's
            # blocking-receive timeout (brpop_timeout = 5): idle WebSockets then die every few
            # seconds with "Timeout reading from ...". A longer read timeout avoids the race.
            "hosts": [{"address": REDIS_URL, "socket_timeout": env_int("CLD_REDIS_SOCKET_TIMEOUT", 30, minimum=6)}],
            "prefix": env_str("CLD_CHANNELS_PREFIX", "cld"),
            "capacity": 1000,  # per channel; a slow browser drops batches, the DB replay fills the gap
            "expiry": 60,
        },
    }
}

# Celery: one long job at a time per worker process, acknowledged only when it ends,
# redelivered when the worker dies mid-run (the engine resumes from its checkpoint).
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env_str("CLD_TASK_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CLD_TASK_SOFT_TIME_LIMIT", 12 * 3600, minimum=1)  # seconds; the run fails cleanly
CELERY_TASK_TIME_LIMIT = env_int("CLD_TASK_TIME_LIMIT", 12 * 3600 + 300, minimum=1)  # seconds; the worker process is killed
# Redis redelivers an unacknowledged message after this long; it must exceed the longest job.
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CLD_BROKER_VISIBILITY_TIMEOUT", 24 * 3600, minimum=60)
if CELERY_BROKER_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CLD_BROKER_VISIBILITY_TIMEOUT must be longer than CLD_TASK_TIME_LIMIT")
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CLD_TASK_SOFT_TIME_LIMIT must be shorter than CLD_TASK_TIME_LIMIT")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not kill the training in progress (Celery 6 will default to cancelling
# late-acked tasks on connection loss): the job goes on, and if its message comes back the start
# protocol (Run.claim) sees a fresh heartbeat and drops the duplicate.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

# Jobs survive faults: the Run row, not Redis, says who runs a job (Run.claim, Run.watchdog).
# A running task writes Run.heartbeat_at this often from a thread, so long stretches without
# engine progress (reading a big corpus, exporting) still count as alive.
CLD_HEARTBEAT_INTERVAL_S = env_int("CLD_HEARTBEAT_INTERVAL_S", 10, minimum=1)
# A heartbeat older than this means the worker died (SIGKILL, OOM, machine lost): the watchdog
# queues the run again. Long enough to ride out a slow database; short enough to recover quickly.
CLD_HEARTBEAT_STALE_S = env_int("CLD_HEARTBEAT_STALE_S", 60, minimum=2)
if CLD_HEARTBEAT_STALE_S < 3 * CLD_HEARTBEAT_INTERVAL_S:
    raise ImproperlyConfigured("CLD_HEARTBEAT_STALE_S must be at least 3 x CLD_HEARTBEAT_INTERVAL_S")
# A run still queued this long after it was sent is sent again: Redis keeps nothing across a
# restart (embedded Redis runs without persistence), so its message may be gone. A message that
# was only waiting behind a long job is delivered twice; the start protocol drops the second.
CLD_QUEUE_LOST_S = env_int("CLD_QUEUE_LOST_S", 600, minimum=1)
# Attempts a run gets: when its worker dies during the last one, the run fails with "worker_lost",
# so a job that kills its worker every time (out of memory) is not restarted forever.
CLD_MAX_ATTEMPTS = env_int("CLD_MAX_ATTEMPTS", 3, minimum=1)
# How often Celery beat (started by runapp with the worker) runs the watchdog.
CLD_WATCHDOG_INTERVAL_S = env_int("CLD_WATCHDOG_INTERVAL_S", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "cld-watchdog": {
        "task": "cldweb.watchdog",
        "schedule": CLD_WATCHDOG_INTERVAL_S,
        # A worker busy with a long job reads this message late; by then a newer sweep is due,
        # so an old one expires instead of piling up.
        "options": {"expires": CLD_WATCHDOG_INTERVAL_S},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "cldweb": {"handlers": ["console"], "level": env_str("CLD_LOG_LEVEL", "INFO")},
        "distill": {"handlers": ["console"], "level": env_str("CLD_LOG_LEVEL", "INFO")},
    },
}

# Transport security. CLD_HTTPS says whether browsers reach cld over HTTPS (a TLS proxy in front).
# It defaults to on in production (DEBUG=0), so `manage.py check --deploy` is clean out of the box,
# and each part below can still be turned on its own. `./cld start` serves plain http://127.0.0.1
# with DEBUG=0, where an HTTPS redirect or secure-only cookies would make the app unusable, so it
# exports CLD_HTTPS=0 unless the operator set CLD_HTTPS or configured a proxy (CLD_PROXY_SSL_HEADER).
CLD_HTTPS = env_bool("CLD_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("CLD_SSL_REDIRECT", CLD_HTTPS)  # http:// -> https://
SECURE_HSTS_SECONDS = env_int("CLD_HSTS_SECONDS", 365 * 24 * 3600 if CLD_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CLD_HSTS_INCLUDE_SUBDOMAINS", CLD_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("CLD_HSTS_PRELOAD", CLD_HTTPS)  # the header directive only; listing is a separate step
SESSION_COOKIE_SECURE = env_bool("CLD_SECURE_COOKIES", CLD_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CLD_SECURE_COOKIES", CLD_HTTPS)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: CLD_PROXY_SSL_HEADER="X-Forwarded-Proto: https" (only when the proxy
# always sets or strips that header, otherwise clients could claim HTTPS).
_proxy_ssl_header = env_str("CLD_PROXY_SSL_HEADER", "-")
if _proxy_ssl_header != "-":
    _header, _separator, _value = _proxy_ssl_header.partition(":")
    if not _header.strip() or not _value.strip():
        raise ImproperlyConfigured(f"CLD_PROXY_SSL_HEADER={_proxy_ssl_header!r} must look like 'X-Forwarded-Proto: https'")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _header.strip().upper().replace("-", "_"), _value.strip())
