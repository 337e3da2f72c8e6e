"""c4router settings, read from the environment.

Two modes, chosen by C4ROUTER_MODE:
- "production" (the default): DEBUG must stay off, SECRET_KEY and ALLOWED_HOSTS must be set,
  cookies are secure. A mistake refuses to start instead of running unsafely.
- "dev": DEBUG on by default, a per-checkout secret key generated under var/, localhost only.
  The quick start and the test suite use it.
No DATABASE_URL: an SQLite file under var/ (the embedded default). DATABASE_URL=postgres://...:
PostgreSQL through psycopg 3 with its connection pool.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError

from c4router.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_str,
    load_env_file,
)
from routing.validators import validate_currency

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("C4ROUTER_VAR_DIR", str(BASE_DIR / "var")))
# This checkout's own settings, when there are any: bin/quickstart writes var/local.env
# (git-ignored) so that manage.py run by hand finds the quick start's dev mode and port. The
# environment always wins over it; a production image has none and sets C4ROUTER_MODE.
LOCAL_ENV_FILE = VAR_DIR / "local.env"
LOCAL_SETTINGS = load_env_file(LOCAL_ENV_FILE)

MODE = env_str("C4ROUTER_MODE", "production").strip().lower()
if MODE not in {"production", "dev"}:
    raise ImproperlyConfigured(f"C4ROUTER_MODE={MODE!r}: use 'production' or 'dev'.")
DEV = MODE == "dev"

# When a production setting is missing in a checkout (not an image: it has no bin/) that the
# quick start has not set up, say how to get the dev mode.
_DEV_HINT = (
    " On a development checkout, run bin/quickstart first (it writes "
    f"{LOCAL_ENV_FILE}) or set C4ROUTER_MODE=dev."
    if (BASE_DIR / "bin" / "quickstart").exists() and not LOCAL_ENV_FILE.exists()
    else ""
)

DEBUG = env_bool("DEBUG", default=DEV)
if DEBUG and not DEV:
    raise ImproperlyConfigured(
        "DEBUG is on in production mode: unset DEBUG, or set C4ROUTER_MODE=dev on a dev machine."
    )


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        if not DEV and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")):
            raise ImproperlyConfigured(
                "SECRET_KEY is too weak for production: use 50+ random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
            )
        return key
    if not DEV:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set (required in production mode).{_DEV_HINT}"
        )
    # Dev mode: one random key per checkout, kept so that sessions survive a restart.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEV else "")
if not ALLOWED_HOSTS and not DEV:
    raise ImproperlyConfigured(
        f"ALLOWED_HOSTS is not set (required in production mode).{_DEV_HINT}"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Where a person reaches this c4router (the admin is at <url>admin/): what manage.py
# ensure_admin and demo_calls print. bin/quickstart sets it, with its port, in var/local.env.
SITE_URL = env_str("C4ROUTER_URL", "http://127.0.0.1:8000/").strip()
try:
    _site = urlsplit(SITE_URL)
    _site_ok = _site.scheme in {"http", "https"} and bool(_site.hostname) and _site.port != 0
except ValueError:  # a port that is not a number, or out of range
    _site_ok = False
if not _site_ok or _site.query or _site.fragment:
    raise ImproperlyConfigured(
        f"C4ROUTER_URL={SITE_URL!r}: give an http(s) URL, e.g. http://127.0.0.1:8000/."
    )
SITE_URL = SITE_URL if SITE_URL.endswith("/") else f"{SITE_URL}/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by us, not a CDN
    "simple_history",
    "axes",
    "routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "c4router.staticfiles.StaticFilesMiddleware",  # WhiteNoise, streaming under ASGI
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "c4router.urls"
WSGI_APPLICATION = "c4router.wsgi.application"
ASGI_APPLICATION = "c4router.asgi.application"

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

# --- Database -------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    _default_db = database_from_url(_database_url)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _default_db = {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "c4router.sqlite3"}
if _default_db["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # Under ASGI every request may run in another thread: a pool, not persistent connections.
    _options = dict(_default_db.get("OPTIONS", {}))  # type: ignore[call-overload]
    _options["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN", 1, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX", 8, minimum=1),
        # Seconds to wait for a connection. Short: when the database is down, the routing
        # table's reload thread should say so within seconds, not block for long.
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 3, minimum=1),
    }
    _default_db["OPTIONS"] = _options
DATABASES = {"default": _default_db}
# A read replica for the routing table (see c4router/db_router.py).
_replica_url = env_str("DATABASE_REPLICA_URL")
if _replica_url:
    _replica_db = database_from_url(_replica_url, name="DATABASE_REPLICA_URL")
    if _replica_db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a postgres:// URL.")
    if "pool" in _default_db.get("OPTIONS", {}):  # type: ignore[operator]
        _replica_db["OPTIONS"] = {**_replica_db["OPTIONS"], "pool": _default_db["OPTIONS"]["pool"]}  # type: ignore[index, dict-item]
    _replica_db["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica_db
DATABASE_ROUTERS = ["c4router.db_router.PrimaryReplicaRouter"]
ROUTING_DB_ALIAS = "replica" if _replica_url else "default"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login throttling (django-axes, routing/lockout.py) ---------------------------------------
# Failed logins, on the admin's login page and the API's token endpoint together, are counted
# per user name and client address: at C4ROUTER_LOGIN_FAILURE_LIMIT, that user cannot log in
# from that address until C4ROUTER_LOGIN_COOLOFF_MINUTES have passed without a further try.
# By name and address: by address alone, one bad script would lock out a whole office behind
# one NAT; by name alone, anyone could lock the admin out by failing on purpose.
AUTHENTICATION_BACKENDS = [
    "routing.lockout.LoginThrottleBackend",  # first: refuses a locked-out login outright
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("C4ROUTER_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("C4ROUTER_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful login forgets that user's failures from there
AXES_CLIENT_IP_CALLABLE = "routing.lockout.client_ip"  # the peer, never a client's header
AXES_LOCKOUT_CALLABLE = "routing.lockout.lockout_response"
AXES_VERBOSE = False  # no "AXES: BEGIN" line at every start; failures are still logged
AXES_COOLOFF_MESSAGE = (
    "Too many failed logins for this user from your address: logins are refused for "
    f"{int(AXES_COOLOFF_TIME.total_seconds()) // 60} minutes after the last try. An "
    "administrator can lift it at once (manage.py axes_reset_username NAME)."
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.min.js from the `plotly` package (the admin's Traffic charts)
    "c4router.staticfiles.PlotlyFinder",
]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEV
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Dev servers (uvicorn with DEBUG) serve static files from the apps without collectstatic.
WHITENOISE_USE_FINDERS = DEV
WHITENOISE_AUTOREFRESH = DEV
# Files browsers ask for at the site's root (/favicon.ico).
WHITENOISE_ROOT = BASE_DIR / "c4router" / "public"

# --- Security ---------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEV:
    # TLS is terminated in front of c4router (load balancer or proxy); it says so with this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # The routing endpoint and health checks are plain HTTP from Kamailio and load balancers.
    SECURE_REDIRECT_EXEMPT = [r"^kamailio/", r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a commitment for the whole domain (browsers' built-in lists), an
        # operator's decision, not a default: don't warn about it at every check --deploy.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "routing.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "c4router API",
    "DESCRIPTION": "Configuration API of c4router and the routing endpoint Kamailio queries.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the imports' "full or delta" (ported numbers, rate decks): the same
    # choices in two requests, which drf-spectacular would otherwise name by a hash.
    "ENUM_NAME_OVERRIDES": {"FullOrDeltaEnum": ["full", "delta"]},
}

# --- Routing ------------------------------------------------------------------------------------
C4ROUTER: dict[str, Any] = {  # mixed values: typed where each is read
    # Default SIP transaction timers (ms) for a gateway or PBX that does not set its own.
    "FR_TIMER": env_int("C4ROUTER_FR_TIMER", 5000, minimum=100, maximum=120000),
    "FR_INV_TIMER": env_int("C4ROUTER_FR_INV_TIMER", 30000, minimum=1000, maximum=600000),
    # At most this many routes in one answer: past a few carriers the caller has hung up anyway.
    "MAX_ROUTES": env_int("C4ROUTER_MAX_ROUTES", 10, minimum=1, maximum=100),
    # The largest CSV file the API and the admin take for an import (bytes; 50 MB is about
    # 500,000 route rules). Bigger files: manage.py import_routes / import_dids.
    "IMPORT_MAX_BYTES": env_int(
        "C4ROUTER_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024, maximum=2**40
    ),
    # CSV imports from the admin and the API run in a child process of their own
    # (routing/import_process.py) at this nice value (0-19; 19 is the lowest priority), so
    # that their CPU never competes with the routing answers on equal terms; past
    # IMPORT_TIMEOUT_S seconds the child is stopped and nothing is imported. 0 runs them in
    # the serving process (the test suite does; not for production).
    "IMPORT_CHILD": env_bool("C4ROUTER_IMPORT_CHILD", True),
    "IMPORT_NICE": env_int("C4ROUTER_IMPORT_NICE", 19, minimum=0, maximum=19),
    "IMPORT_TIMEOUT_S": env_int("C4ROUTER_IMPORT_TIMEOUT_S", 900, minimum=10, maximum=86400),
    # How long (µs) a thread of a serving process may hold Python's GIL while another one
    # waits for it (sys.setswitchinterval; Python's default is 5,000). The event loop that
    # answers Kamailio waits up to this long whenever a background thread computes (the
    # table patch after an import, an export's batches, an admin page): 500 µs keeps that
    # wait under a millisecond (bench/gil_lag.py); set only in the ASGI server's workers.
    "SWITCH_INTERVAL_US": env_int("C4ROUTER_SWITCH_INTERVAL_US", 500, minimum=100, maximum=100_000),
    # How often each worker checks the routing data version (ms); a change is live after this
    # plus the time to rebuild the table.
    "RELOAD_INTERVAL_MS": env_int("C4ROUTER_RELOAD_INTERVAL_MS", 250, minimum=50, maximum=60000),
    # Who may query POST /kamailio/rtjson: client networks, and the shared token (the router
    # instances' tokens are accepted too).
    "API_ALLOWED_NETS": env_networks("C4ROUTER_API_ALLOWED_NETS", "127.0.0.0/8,::1/128"),
    "API_TOKEN": env_str("C4ROUTER_API_TOKEN"),
    # 0: a client inside API_ALLOWED_NETS may ask without a token (the seed's published
    # Kamailio config sends none); a token that is sent must still be valid. `check
    # --deploy` flags 0 (c4router/checks.py). Empty means the default: a blank line in an
    # env file must not turn the token off.
    "API_TOKEN_REQUIRED": (
        env_bool("C4ROUTER_API_TOKEN_REQUIRED", True)
        if env_str("C4ROUTER_API_TOKEN_REQUIRED").strip()
        else True
    ),
    # Who may read /metrics (Prometheus); /healthz and /readyz are open to all.
    "METRICS_ALLOWED_NETS": env_networks("C4ROUTER_METRICS_ALLOWED_NETS", "127.0.0.0/8,::1/128"),
    # /readyz keeps saying "degraded" (200) while the database is unreachable and the last
    # good table is at most this old; past it, "unavailable" (503).
    "READY_MAX_STALE_SECONDS": env_int("C4ROUTER_READY_MAX_STALE_SECONDS", 3600, minimum=1),
    # A private directory where the workers of a host share the compiled rate decks (one
    # file per deck and version, built once, memory-mapped by every worker: routing/
    # deck_cache.py). Empty: each worker reads and keeps its own copy.
    "DECK_CACHE_DIR": env_str("C4ROUTER_DECK_CACHE_DIR").strip(),
    # Least-cost routing across currencies: the currency the exchange rates are given in
    # (admin: Exchange rates; one unit of each other currency is worth its rate in this).
    "BASE_CURRENCY": env_str("C4ROUTER_BASE_CURRENCY", "USD").strip(),
}
try:
    validate_currency(C4ROUTER["BASE_CURRENCY"])
except ValidationError:
    raise ImproperlyConfigured(
        f"C4ROUTER_BASE_CURRENCY={C4ROUTER['BASE_CURRENCY']!r}: give an ISO 4217 code, three "
        "capital letters (e.g. USD or EUR)."
    ) from None

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level.")
# Logs go to stderr (the container's log). LOG_FORMAT=json: one JSON object per line, with
# the call_id of the call a line is about. What is logged at which level:
#   DEBUG   every routing decision, routed or refused, with the reason (c4router.routing;
#           ROUTING_LOG_LEVEL=DEBUG shows them: a line per call is too much at 500 calls/s)
#   INFO    routing table builds and patches
#   WARNING malformed routing queries (at most one line a second, with a count of the
#           others); the database reachable again after an outage
#   ERROR   the database unreachable (once, then about every minute) and build failures
ROUTING_LOG_LEVEL = env_str("ROUTING_LOG_LEVEL", LOG_LEVEL).upper()
if ROUTING_LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"ROUTING_LOG_LEVEL={ROUTING_LOG_LEVEL!r} is not a logging level.")
LOG_FORMAT = env_str("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use 'text' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "c4router.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "c4router.routing": {"level": ROUTING_LOG_LEVEL},
        # The call records' RabbitMQ client logs every connection step at INFO.
        "pika": {"level": "WARNING"},
    },
}

# --- Call records -------------------------------------------------------------------------------
# Kamailio publishes a record per call and per attempt to a durable RabbitMQ queue;
# `manage.py ingest_cdrs` stores them (README, "Call records"). Records older than
# C4ROUTER_CDR_RETENTION_DAYS are dropped a day-partition at a time (`manage.py
# cdr_partitions`, also run by the ingester every hour). Off by default: Kamailio's rabbitmq
# module refuses to start without its broker, so records are turned on where RabbitMQ runs.
C4ROUTER_CDR = {
    "ENABLED": env_bool("C4ROUTER_CDR_ENABLED", False),
    "AMQP_URL": env_str("C4ROUTER_CDR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
    "QUEUE": env_str("C4ROUTER_CDR_QUEUE", "c4router.cdr"),
    "RETENTION_DAYS": env_int("C4ROUTER_CDR_RETENTION_DAYS", 90, minimum=1, maximum=3660),
    # A call longer than this is ended by Kamailio (BYE both ways) and recorded as "timeout".
    "MAX_CALL_SECONDS": env_int("C4ROUTER_CDR_MAX_CALL_SECONDS", 14400, minimum=60),
}

# --- Capacity limits ---------------------------------------------------------------------------
# Kamailio counts the limits of c4router's answers (max concurrent calls, calls per second of
# tenants, PBXs, carriers and gateways) in this Redis, shared by every node (README,
# "Capacity limits"). Off by default: the rendered config then loads neither ndb_redis nor
# the counting, and limits set in the admin are shown but not enforced.
C4ROUTER_CAPACITY = {
    "ENABLED": env_bool("C4ROUTER_CAPACITY_ENABLED", False),
    "REDIS_HOST": env_str("C4ROUTER_CAPACITY_REDIS_HOST", "127.0.0.1"),
    "REDIS_PORT": env_int("C4ROUTER_CAPACITY_REDIS_PORT", 6379, minimum=1, maximum=65535),
    # Redis's numbered database of the counters: a Redis shared with other uses (or with a
    # test suite) keeps them apart.
    "REDIS_DB": env_int("C4ROUTER_CAPACITY_REDIS_DB", 0, minimum=0, maximum=1023),
    # What a call over a limit gets: at once, with Retry-After (seconds, 0: none).
    "CODE": env_int("C4ROUTER_CAPACITY_CODE", 503, minimum=400, maximum=699),
    "REASON": env_str("C4ROUTER_CAPACITY_REASON", "Capacity Exceeded"),
    "RETRY_AFTER": env_int("C4ROUTER_CAPACITY_RETRY_AFTER", 5, minimum=0, maximum=86400),
}

# Overload (README, "Overload"): at most this many calls wait for c4router's answer on a
# Kamailio node; beyond, new calls are refused at once (503 Overloaded). 0: no bound.
C4ROUTER_OVERLOAD_API_QUERIES = env_int(
    "C4ROUTER_OVERLOAD_API_QUERIES", 200, minimum=0, maximum=1_000_000
)
# c4router answers routing queries with a 503 refusal at once while its event loop lags
# more than this (ms): its own queue (c4router/asgi.py). 0: never.
C4ROUTER_OVERLOAD_LAG_MS = env_int("C4ROUTER_OVERLOAD_LAG_MS", 100, minimum=0, maximum=60_000)

# --- Kamailio rendering -------------------------------------------------------------------------
# What `manage.py render_kamailio_config` writes into each instance's config (its
# --module-path and --http-async-client options override these). Debian bookworm does not
# package http_async_client: bin/install-kamailio builds it and prints its absolute path.
# Empty (the default): found on the host rendering the config, in the module directory,
# /usr/local/lib/kamailio/ or where bin/install-kamailio built it (routing/kamailio.py).
KAMAILIO_MODULE_PATH = env_str(
    "KAMAILIO_MODULE_PATH", "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
)
KAMAILIO_HTTP_ASYNC_CLIENT = env_str("KAMAILIO_HTTP_ASYNC_CLIENT").strip()
if not KAMAILIO_MODULE_PATH.startswith("/"):
    raise ImproperlyConfigured(
        f"KAMAILIO_MODULE_PATH={KAMAILIO_MODULE_PATH!r}: give Kamailio's absolute module directory."
    )
if KAMAILIO_HTTP_ASYNC_CLIENT and not KAMAILIO_HTTP_ASYNC_CLIENT.endswith(".so"):
    raise ImproperlyConfigured(
        f"KAMAILIO_HTTP_ASYNC_CLIENT={KAMAILIO_HTTP_ASYNC_CLIENT!r}: give the absolute path of "
        "http_async_client.so (bin/install-kamailio prints it), or 'http_async_client.so'."
    )
