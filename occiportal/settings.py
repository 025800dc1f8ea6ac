"""Occiportal settings: one module, read from environment variables.

Every setting has an embedded default so that a first run on a laptop needs
nothing but Python packages: a SQLite file and uploads in ``data/``, and a
Celery broker on the local filesystem. Set ``DATABASE_URL`` and
``CELERY_BROKER_URL`` (and ``OCCIPORTAL_ENV=production``) for the production
stack described in ``compose.yaml``.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from training.broker_options import broker_transport_options, broker_url


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name, default):
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env("OCCIPORTAL_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
PRODUCTION = env("OCCIPORTAL_ENV", "development") == "production"


# ------------------------------------------------------------------------------
# Security
# ------------------------------------------------------------------------------
def _secret_key():
    key = env("DJANGO_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set in production: generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`."
        )
    # The embedded default keeps one key per installation, never a shared one.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# An idle timeout: use pushes the expiry on (occiportal/sessions.py), so only
# a session left alone this long ends (eight hours: a working day, not a fortnight).
SESSION_COOKIE_AGE = env_int("OCCIPORTAL_SESSION_IDLE_SECONDS", 8 * 3600)
X_FRAME_OPTIONS = "DENY"
# Scripts, styles and everything else from the portal only: no inline script or
# style, nothing from a CDN (the API docs relax styles for Redoc, occiportal/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# ------------------------------------------------------------------------------
# Applications
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc's files, served by the portal
    "axes",
    "occiportal",
    "annotation",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the body (CSRF reads a form's): control characters, oversize uploads.
    "occiportal.input_guard.InputGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "occiportal.sessions.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers locked-out logins.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "occiportal.urls"
WSGI_APPLICATION = "occiportal.wsgi.application"

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

# ------------------------------------------------------------------------------
# Database
# ------------------------------------------------------------------------------
if env("DATABASE_URL"):
    # Health checks: a persistent connection the server dropped (a restart,
    # a failover) is replaced before use instead of failing one request per thread.
    DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL"), conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "occiportal.sqlite3",
            # The web process and the worker share the file: wait for locks
            # rather than fail, and write-ahead logging lets readers go on.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if env("OCCIPORTAL_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("OCCIPORTAL_TEST_DB_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Authentication
# ------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Refuses the published demo passwords (seed_demo) in production, before any password is checked.
    "occiportal.demo.DemoPasswordBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"
# Login attempts: five failures per user and address lock for 15 minutes.
AXES_FAILURE_LIMIT = env_int("OCCIPORTAL_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Password-reset requests per hour, from one address and for one e-mail address.
PASSWORD_RESET_LIMITS = {
    "ip": env_int("OCCIPORTAL_RESET_LIMIT_PER_IP", 10),
    "email": env_int("OCCIPORTAL_RESET_LIMIT_PER_EMAIL", 3),
}
# Counters for those limits: shared by every web process through Redis in production.
if env("OCCIPORTAL_CACHE_URL"):
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("OCCIPORTAL_CACHE_URL")}
    }

# Mail carries password-reset links, which are credentials: the console backend
# (printing them to the web log) is for development only, and production
# defaults to SMTP. occiportal/checks.py refuses a production set-up without a mail server.
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "occiportal@localhost")

# ------------------------------------------------------------------------------
# Internationalisation
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# ------------------------------------------------------------------------------
# Static files and storage
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_ROOT = DATA_DIR / "media"

_file_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
if env("OCCIPORTAL_S3_BUCKET"):
    _file_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("OCCIPORTAL_S3_BUCKET"),
            "endpoint_url": env("OCCIPORTAL_S3_ENDPOINT_URL"),
            "default_acl": "private",
            "querystring_auth": True,
        },
    }
STORAGES = {
    "default": _file_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Resumable uploads (/api/uploads/, the tus protocol) collect their bytes
# here, beside MEDIA_ROOT so that a finished one is moved, not copied. Every
# web server must see the same folder.
UPLOAD_INCOMING_DIR = Path(env("OCCIPORTAL_UPLOAD_INCOMING_DIR", MEDIA_ROOT / "incoming")).resolve()
UPLOAD_PIECE_MAX_BYTES = env_int("OCCIPORTAL_UPLOAD_PIECE_MAX_BYTES", 64 * 1024**2)
UPLOAD_EXPIRE_HOURS = env_int("OCCIPORTAL_UPLOAD_EXPIRE_HOURS", 7 * 24)

# Large uploads stream to a temporary file, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760
FILE_UPLOAD_TEMP_DIR = None

# ------------------------------------------------------------------------------
# Ingest limits
# ------------------------------------------------------------------------------
INGEST = {
    "MAX_UPLOAD_BYTES": env_int("OCCIPORTAL_MAX_UPLOAD_BYTES", 5 * 1024**3),
    # Every upload, plain or archived, Parquet included: the bytes it decodes to in all,
    # and at most this many times its own size.
    "MAX_EXPANDED_BYTES": env_int("OCCIPORTAL_MAX_EXPANDED_BYTES", 20 * 1024**3),
    "MAX_COMPRESSION_RATIO": env_int("OCCIPORTAL_MAX_COMPRESSION_RATIO", 200),
    "MAX_ARCHIVE_MEMBERS": env_int("OCCIPORTAL_MAX_ARCHIVE_MEMBERS", 10_000),
    "MAX_RECORD_BYTES": env_int("OCCIPORTAL_MAX_RECORD_BYTES", 8 * 1024**2),
    # Chunks: about 32 per upload, each between these sizes.
    "MIN_CHUNK_BYTES": env_int("OCCIPORTAL_MIN_CHUNK_BYTES", 1024**2),
    "CHUNK_BYTES": env_int("OCCIPORTAL_CHUNK_BYTES", 16 * 1024**2),
    "BATCH_RECORDS": env_int("OCCIPORTAL_BATCH_RECORDS", 2000),
    # The ingest sweeper (annotation/services/ingest_sweep.py). A chunk beats
    # per committed batch of BATCH_RECORDS; one silent this long is sent again,
    # and after CHUNK_MAX_ATTEMPTS claims its submission fails. A submission
    # still "received" after RECEIVED_GRACE_SECONDS was never sent; one planning
    # for PLAN_STALL_SECONDS lost its worker.
    "CHUNK_STALL_SECONDS": env_int("OCCIPORTAL_CHUNK_STALL_SECONDS", 300),
    "CHUNK_MAX_ATTEMPTS": env_int("OCCIPORTAL_CHUNK_MAX_ATTEMPTS", 3),
    "RECEIVED_GRACE_SECONDS": env_int("OCCIPORTAL_RECEIVED_GRACE_SECONDS", 120),
    "PLAN_STALL_SECONDS": env_int("OCCIPORTAL_PLAN_STALL_SECONDS", 1800),
    "MAX_ERRORS_KEPT": 100,
    # "regex" counts GPT-style pre-tokens; a path to a tokenizer.json uses it.
    "TOKENIZER": env("OCCIPORTAL_TOKENIZER", "regex"),
    # The uploaded file is deleted once its records are stored (redacted); a
    # failed submission's is kept this many days, for the partner to see why.
    "ORIGINAL_RETENTION_DAYS": env_int("OCCIPORTAL_ORIGINAL_RETENTION", 7),
}

# Near-duplicates (docs/near-duplicates.md): the band index, a cache of the
# Parquet signatures in the file storage, on local disk of the host whose
# ingest workers finish submissions (they serialise writes with an flock).
NEAR_DUPLICATE_INDEX_DIR = Path(env("OCCIPORTAL_NEAR_DUPLICATE_INDEX_DIR", DATA_DIR / "near-duplicate-index")).resolve()

# ------------------------------------------------------------------------------
# Celery
# ------------------------------------------------------------------------------
# The GPU worker's app reads the same (training/gpu_worker.py).
CELERY_BROKER_URL = broker_url()
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL, DATA_DIR)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Work whose message the broker did not take (it was away) is sent again by a
# sweeper once it has been unsent this long (occiportal/broker.py).
UNSENT_GRACE_SECONDS = env_int("OCCIPORTAL_UNSENT_GRACE", env_int("OCCIPORTAL_RUN_UNSENT_GRACE", 120))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Training runs: the run row is the truth; the sweeper retries jobs whose lease ran out.
TRAINING = {
    "STORAGE_ROOTS": [],  # job specs may point inside DATA_DIR and these folders only
    "QUEUE_LEASE_SECONDS": env_int("OCCIPORTAL_RUN_QUEUE_LEASE", 24 * 3600),  # waiting for a GPU
    "HEARTBEAT_TIMEOUT_SECONDS": env_int("OCCIPORTAL_RUN_HEARTBEAT_TIMEOUT", 600),
    "EVALUATE_BASE_MODEL": True,  # after training, also measure the base model on suites it has no results for
    # The GPUs runs are checked against before dispatch (training/services/fit_estimate.py): an H100 SXM's defaults.
    "GPU_MEMORY_GB": env_float("OCCIPORTAL_GPU_MEMORY_GB", 80.0),
    "GPU_PEAK_TFLOPS": env_float("OCCIPORTAL_GPU_PEAK_TFLOPS", 989.0),  # dense bf16
    "GPU_MFU": env_float("OCCIPORTAL_GPU_MFU", 0.4),  # share of the peak a run is assumed to reach
}
# The object store for runs (docs/runs.md, "Where data and checkpoints live").
# With a bucket, snapshots are uploaded to s3://BUCKET/PREFIX/snapshots/ once
# and jobs keep checkpoints and final models under s3://BUCKET/PREFIX/runs/,
# so a GPU host may go away without its results; job specs may name no other
# s3:// location. Without one (the default), specs name shared folders only.
# GPU workers need the same variables: the job reads the endpoint and the keys
# from its environment, never from the spec.
TRAINING_STORE = {
    "BUCKET": env("OCCIPORTAL_RUN_STORE_BUCKET", ""),
    "PREFIX": env("OCCIPORTAL_RUN_STORE_PREFIX", "training").strip("/"),
    "ENDPOINT_URL": env("OCCIPORTAL_S3_ENDPOINT_URL") or None,  # MinIO; unset: AWS
    "REGION": env("AWS_DEFAULT_REGION", "us-east-1"),
    "ACCESS_KEY_ID": env("AWS_ACCESS_KEY_ID") or None,
    "SECRET_ACCESS_KEY": env("AWS_SECRET_ACCESS_KEY") or None,
}
CELERY_BEAT_SCHEDULE = {
    "training-runs-sweep": {"task": "training.run_tasks.runs_sweep", "schedule": 60.0},
    "ingest-sweep": {"task": "annotation.tasks.ingest_sweep", "schedule": float(env_int("OCCIPORTAL_INGEST_SWEEP_SECONDS", 60))},
    "argilla-pull": {"task": "annotation.argilla_tasks.argilla_pull_all", "schedule": 300.0},
    "argilla-push-sweep": {"task": "annotation.argilla_tasks.argilla_push_sweep", "schedule": 60.0},
    "uploads-expire": {"task": "annotation.tasks.uploads_expire", "schedule": 3600.0},
    "originals-expire": {"task": "annotation.tasks.originals_expire", "schedule": 3600.0},
}

# Argilla bridge (annotation/argilla.py); unset, the bridge is off.
ARGILLA_API_URL = env("ARGILLA_API_URL") or None
ARGILLA_API_KEY = env("ARGILLA_API_KEY") or None
ARGILLA_WORKSPACE = env("ARGILLA_WORKSPACE", "occiportal")

# Snapshots: downloads and the Hub. With a header set ("X-Accel-Redirect" for
# nginx, "X-Sendfile" for Apache), the web server sends shard bytes itself;
# for nginx the prefix names an internal location mapped to DATA_DIR.
SNAPSHOT_SENDFILE_HEADER = env("OCCIPORTAL_SENDFILE_HEADER", "")
SNAPSHOT_SENDFILE_PREFIX = env("OCCIPORTAL_SENDFILE_PREFIX", "/protected/")
SNAPSHOT_HUB_TOKEN = env("HF_TOKEN") or None
SNAPSHOT_HUB_ENDPOINT = env("HF_ENDPOINT") or None
SNAPSHOT_HUB_NAMESPACE = env("OCCIPORTAL_HUB_NAMESPACE", "")

# ------------------------------------------------------------------------------
# REST API
# ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's own parsers, refusing NUL, which PostgreSQL cannot store.
    "DEFAULT_PARSER_CLASSES": [
        "occiportal.input_guard.JSONParser",
        "occiportal.input_guard.FormParser",
        "occiportal.input_guard.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Occiportal API",
    "DESCRIPTION": "Submit text, instruction and evaluation data per language; read its checks.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("OCCIPORTAL_LOG_LEVEL", "INFO")},
    # httpx logs every request URL at INFO, and the Hub's signed upload URLs are credentials.
    "loggers": {"axes": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
