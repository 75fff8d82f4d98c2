"""Settings for the platform, all read from the environment.

Every variable has a default that runs the embedded set-up (SQLite, a file-system
broker, local artifact storage) so that ``make run`` needs no configuration. The
production shape sets ``DEBUG=0``, ``SECRET_KEY``, ``DATABASE_URL`` and
``REDIS_URL``; docs/operations.md lists every variable.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the platform writes at run time (SQLite file, broker folders,
# artifacts) lives under one directory so a checkout stays clean.
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-change-me-for-production-0123456789"  # noqa: S105 (used only with DEBUG on)
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] + (["testserver"] if DEBUG else []))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "tenants",
    "recommender",
    "recommender.training",
    "recommender.serving",
    "recommender.data",
    "recommender.feedback",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.CurrentTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "saas_platform.middleware.ContentSecurityPolicyMiddleware",
]

# What API-key calls to /api/ skip (saas_platform.handlers): they carry no session, cookie or static path.
BROWSER_ONLY_MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.CurrentTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "saas_platform.urls"

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
                "tenants.context_processors.current_tenant",
            ],
        },
    },
]

WSGI_APPLICATION = "saas_platform.wsgi.application"
ASGI_APPLICATION = "saas_platform.asgi.application"

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Fail fast when PostgreSQL is unreachable instead of hanging a request.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The web server and the worker share the file: wait for a lock rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis -------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Organisations people create themselves (sign-up, "new organisation") get this plan; it is created with
# small limits on first use (tenants.models.SELF_SERVICE_LIMITS) and operators edit it in the admin.
SELF_SERVICE_PLAN = env_str("SELF_SERVICE_PLAN", "trial")
# Organisations one person may own before an operator approves more (grant "Can add tenant" in the admin).
MAX_OWNED_ORGANISATIONS = env_int("MAX_OWNED_ORGANISATIONS", 3)
# Sign-ups per client address and organisations created per person, per hour.
SIGNUPS_PER_HOUR = env_int("SIGNUPS_PER_HOUR", 5)
ORGANISATIONS_PER_HOUR = env_int("ORGANISATIONS_PER_HOUR", 3)
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files and storage ------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("STORAGE_ROOT", str(VAR_DIR / "storage")))
# Artifacts and uploads are private: they are never served from a public URL.
MEDIA_URL = None
STORAGES = {
    "default": {"BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ---------------------------------------------------------------------------------------
_CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", _CONSOLE_EMAIL)
if not DEBUG and EMAIL_BACKEND in {_CONSOLE_EMAIL, "django.core.mail.backends.filebased.EmailBackend"}:
    # Invitation and password-reset links are keys to accounts: a production log must never hold them.
    if not env_bool("EMAIL_CONSOLE_OPT_IN", False):
        raise ImproperlyConfigured(
            "With DEBUG off, set EMAIL_BACKEND to a real backend (for example "
            "django.core.mail.backends.smtp.EmailBackend), or EMAIL_CONSOLE_OPT_IN=1 to print mails "
            "to the log with their links withheld."
        )
    EMAIL_BACKEND = "tenants.mail.LinklessConsoleBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "platform@localhost")

# --- Security (production) -------------------------------------------------------------------------
# How many reverse proxies (load balancer, nginx, ...) stand between clients and gunicorn; each appends
# to X-Forwarded-For. 0: clients connect directly and REMOTE_ADDR is theirs. See core.http.client_address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 (no proxy) or the number of proxies in front.")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    if TRUSTED_PROXY_COUNT > 0:
        # Only a proxy in front sets the scheme header; without one, any client could claim HTTPS.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# The portal's pages load only the platform's own scripts, styles and images (no inline code): an
# injected <script> or style attribute does not run. See saas_platform.middleware.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

# --- REST framework and OpenAPI ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.HasTenantScope"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.throttling.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies are JSON (the one upload, a dataset import, takes multipart on its own view): a form-encoded
    # body cannot say null, a list of one, a number or a boolean as the schema does, so it is a 415.
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.JSONParser"],
    "DEFAULT_METADATA_CLASS": "tenants.api.metadata.ApiMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "tenants.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # DRF's own client address (get_ident, for any address-keyed throttle) agrees with core.http.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
# The largest JSON body an API request without a tenant may send; a tenant's plan sets its own
# (Plan.max_request_body_bytes). Checked by tenants.api.parsers before the body is read.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 256 * 1024)
SPECTACULAR_SETTINGS = {
    "TITLE": "Recommendation platform API",
    "DESCRIPTION": (
        "Train, deploy and call your own recommendation and prediction models. "
        "Authenticate with `Authorization: Api-Key <key>`. Errors share one shape: "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_error_responses",
    ],
    # Swagger UI is served from the installed package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a status or format field; give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "RunStatusEnum": "recommender.training.models.RunStatus",
        "JobStatusEnum": "recommender.data.models.ImportJob.Status",
        "ImportFormatEnum": "recommender.data.models.ImportJob.Format",
        "BatchFormatEnum": "recommender.serving.models.BatchJob.Format",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
}

# --- Celery ------------------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
# The host part is a placeholder the file-system transport ignores; without it kombu warns on every connection.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in one folder, shared by web and worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # A message whose worker vanished is re-delivered after this long.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "recommender.training.tasks.run_training": {"queue": "training"},
    "recommender.data.tasks.*": {"queue": "imports"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "reap-stale-training-runs": {"task": "recommender.training.tasks.reap_stale_runs", "schedule": 30.0},
    "reap-orphaned-imports": {"task": "recommender.data.tasks.reap_orphaned_imports", "schedule": 60.0},
    "resend-lost-training-runs": {"task": "recommender.training.tasks.resend_lost_runs", "schedule": 60.0},
    "resend-lost-imports": {"task": "recommender.data.tasks.resend_lost_imports", "schedule": 60.0},
    "flush-usage-counters": {"task": "tenants.tasks.flush_usage", "schedule": 60.0},
    "sweep-kept-uploads": {"task": "recommender.data.tasks.sweep_kept_uploads", "schedule": 3600.0},
    "expire-batch-files": {"task": "recommender.serving.tasks.expire_batch_files", "schedule": 3600.0},
    "aggregate-feedback": {
        "task": "recommender.feedback.tasks.aggregate",
        "schedule": float(env_int("FEEDBACK_AGGREGATE_SECONDS", 300)),
    },
    # Models with a drift policy ("after N new events or X% new items") are checked this often.
    "retrain-on-drift": {
        "task": "recommender.training.tasks.retrain_on_drift",
        "schedule": float(env_int("TRAINING_DRIFT_CHECK_SECONDS", 600)),
    },
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers run at this lower CPU priority (nice), so where web processes share cores with them (the embedded
# set-up, a host running both) a request is answered before a training or import step: measured in
# tests/reliability/test_noisy_neighbour.py (docs/benchmarks.md). 0 leaves the priority as it is.
WORKER_NICENESS = env_int("WORKER_NICENESS", 10)
CELERY_TIMEZONE = TIME_ZONE

# --- Platform ------------------------------------------------------------------------------------------
PLATFORM = {
    # Seconds an API key or deployment look-up is kept in a process before it is checked again.
    "LOCAL_CACHE_SECONDS": env_int("PLATFORM_LOCAL_CACHE_SECONDS", 1),
    # Rate-limit windows and usage are counted in each process and sent to Redis every half of this; a
    # process trusts a window's shared count for this long (tenants.throttling: the bound on over-admission).
    "METERING_SECONDS": env_int("PLATFORM_METERING_SECONDS", 1),
    # Bytes of loaded model versions each web process keeps (least recently used are dropped).
    "SERVING_CACHE_BYTES": env_int("SERVING_CACHE_BYTES", 256 * 1024 * 1024),
    # Seconds between a process's reads of catalogue items added after a version's training (placed by
    # their text where the recipe can: recommender.serving.loader).
    "SERVING_NEW_ITEMS_SECONDS": env_int("SERVING_NEW_ITEMS_SECONDS", 30),
    # A training run or import still queued this long after its task was sent is sent again: Redis keeps
    # no messages across a restart. Long enough that a busy queue is rarely given duplicates (harmless anyway).
    "QUEUED_RESEND_AFTER_SECONDS": env_int("QUEUED_RESEND_AFTER_SECONDS", 600),
    # Bounds on the work one tenant's data may cause (recommender.data.limits; docs/operations.md).
    "LIMITS": {
        # Distinct keys (feature names) of one record, one API batch and one imported file.
        "FEATURE_KEYS": env_int("LIMIT_FEATURE_KEYS", 100),
        # An imported file: bytes a gzip may decompress to, and to how many times its own size (files
        # under 16 MiB decompressed are not held to the ratio); bytes of one line and of one value.
        "DECOMPRESSED_BYTES": env_int("LIMIT_DECOMPRESSED_BYTES", 8 * 1024**3),
        "DECOMPRESSION_RATIO": env_int("LIMIT_DECOMPRESSION_RATIO", 100),
        "LINE_BYTES": env_int("LIMIT_LINE_BYTES", 1024 * 1024),
        "FIELD_BYTES": env_int("LIMIT_FIELD_BYTES", 64 * 1024),
        # Users a batch job scores per turn on a worker before other tenants' jobs get theirs (tenants.turns).
        "BATCH_SLICE_USERS": env_int("LIMIT_BATCH_SLICE_USERS", 500),
        # Imports of one tenant queued or running at once: more are refused (each waiting one is sent again
        # every TURN_WAIT_SECONDS while its tenant has no turn, so an unbounded backlog would busy the workers).
        "WAITING_IMPORTS": env_int("LIMIT_WAITING_IMPORTS", 20),
    },
    # A sliced job whose tenant already runs its plan's number at once is sent again after this long.
    "TURN_WAIT_SECONDS": env_int("TURN_WAIT_SECONDS", 5),
    # How long stored files live (recommender.data.retention, recommender.serving.batch). An upload goes
    # when its import succeeds; a failed import's is kept this long for a rerun (0: deleted at once).
    "RETENTION": {
        "KEPT_UPLOAD_HOURS": env_int("KEPT_UPLOAD_HOURS", 24),
        "BATCH_FILE_HOURS": env_int("BATCH_FILE_HOURS", 72),
    },
    "TRAINING": {
        # Training is seeded so that the same data and parameters give the same model.
        "SEED": env_int("TRAINING_SEED", 42),
        "HEARTBEAT_SECONDS": env_int("TRAINING_HEARTBEAT_SECONDS", 5),
        # A running run whose heartbeat is older than this is re-queued or failed by the reaper.
        "STALE_AFTER_SECONDS": env_int("TRAINING_STALE_AFTER_SECONDS", 60),
        "MAX_ATTEMPTS": env_int("TRAINING_MAX_ATTEMPTS", 2),
        "MAX_TUNING_TRIALS": 30,
        # Seconds between the soft time limit (clean failure) and the hard kill.
        "HARD_LIMIT_GRACE": 60,
        # Peak memory one training run may plan for: the automatic recipe choice keeps only recipes whose
        # estimate fits, and a hand-picked recipe over it is refused before it starts. The time budget is
        # the plan's training_time_limit_seconds.
        "MEMORY_BUDGET_MB": env_int("TRAINING_MEMORY_BUDGET_MB", 1536),
        # Items from which an embedding model (two_tower, sasrec) gets an approximate nearest-neighbour index,
        # built at training time and memory-mapped by web processes (recommender/ml/ann.py). Below it exact
        # search over every item is fast enough (docs/benchmarks.md "ANN").
        "ANN_MIN_ITEMS": env_int("ANN_MIN_ITEMS", 50_000),
    },
}

# Closing the loop (recommender.feedback): impressions, attribution and online metrics.
FEEDBACK = {
    # Seconds between two sends of a process's queued impressions to Redis (what a crash may lose).
    "FLUSH_SECONDS": env_int("FEEDBACK_FLUSH_SECONDS", 1),
    # Impressions a process keeps queued while Redis is down; older ones are dropped beyond.
    "BUFFER_LIMIT": env_int("FEEDBACK_BUFFER_LIMIT", 100_000),
    # How long after an answer an event naming its recommendation_id is attributed to it.
    "ATTRIBUTION_HOURS": env_int("FEEDBACK_ATTRIBUTION_HOURS", 24),
    # Days raw impressions are kept (at least ATTRIBUTION_HOURS); metric buckets follow each tenant's retention.
    "IMPRESSION_DAYS": env_int("FEEDBACK_IMPRESSION_DAYS", 7),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
