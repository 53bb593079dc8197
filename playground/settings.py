"""Settings, read from the environment: safe defaults on a laptop, loud failure in production.

One block per app. Importing this module reads the environment and nothing else: the directories it names are
made where they are first needed (bin/setup makes DATA_DIR).
"""

import ipaddress
import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

# Django (the project, playground/)
DEBUG = env.bool("DEBUG", default=False)
PRODUCTION = env.bool("PRODUCTION", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured(
        "DEBUG must be off when PRODUCTION=true: debug pages show settings and tracebacks to anyone; unset DEBUG"
    )

# The database (SQLite), the gateway's host key, caches, collected static files, the mirror's storage, recordings.
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=true")
    SECRET_KEY = "laptop-only-insecure-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if not PRODUCTION else [])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PRODUCTION=true")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.openid_connect",
    "accounts",
    "sessions.apps.SandboxSessionsConfig",
    "terminals",
    "gateway",
    "mirror",
    "router",
    "workshops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "playground.nul.refuse_nul",
    "accounts.middleware.popup_keeps_its_opener",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "playground.urls"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and gateway write concurrently; WAL plus a busy timeout keeps them from failing with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# Tests share one database, so worker and server processes they start see the same rows: a file with SQLite; with
# PostgreSQL (DATABASE_URL=postgres://…, a role that may create databases), Django's test_<name> unless set.
_TEST_DATABASE_DEFAULT = str(DATA_DIR / "test.sqlite3") if DATABASES["default"]["ENGINE"].endswith("sqlite3") else ""
if _test_database := env.str("TEST_DATABASE_NAME", default=_TEST_DATABASE_DEFAULT):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = _test_database
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Shared by all web processes (rate limits); prefixed per deployment so test runs never count each other.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("SANDBOX_DEPLOYMENT", default="default"),
    }
}

STATIC_URL = "/static/"
# Made by collectstatic (bin/setup runs it); WhiteNoise serves the files from their apps' folders as well.
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Largest request body Daphne reads (bytes); past it, 413 and the connection is closed (playground/bodylimit.py).
MAX_REQUEST_BODY = env.int("MAX_REQUEST_BODY", default=1024 * 1024)

# Accounts (accounts): Django's users; trainers are staff or in the "trainers" group. Learners stay anonymous
# unless LOGIN_REQUIRED_TO_START: then POST / answers 403 (XHR) or sends the visitor to the login page.
LOGIN_REQUIRED_TO_START = env.bool("LOGIN_REQUIRED_TO_START", default=False)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Accounts with a password are made by the operator (admin, createsuperuser); OAuth logins make their own on first
# use (accounts/adapters.py). No mail is sent: nothing here verifies addresses.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
# The scheme of the callback URL a provider sends the browser back to: behind a proxy that ends TLS, the request
# itself looks like http.
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("OAUTH_CALLBACK_SCHEME", default="https" if PRODUCTION else "http")
# Seconds allauth waits for a provider's token, userinfo and discovery endpoints.
SOCIALACCOUNT_REQUESTS_TIMEOUT = env.int("OAUTH_TIMEOUT", default=10)
# OAuth providers, each on when its client id is set: GitHub, and one OpenID Connect provider (Keycloak, Dex,
# Google, …) at OIDC_SERVER_URL (its issuer), reached as /oauth/providers/<OIDC_PROVIDER_ID>/login.
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if env.str("GITHUB_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APPS": [{"client_id": env.str("GITHUB_CLIENT_ID"), "secret": env.str("GITHUB_CLIENT_SECRET", default="")}],
        "SCOPE": ["read:user"],
    }
if env.str("OIDC_CLIENT_ID", default=""):
    if not env.str("OIDC_SERVER_URL", default=""):
        raise ImproperlyConfigured("OIDC_SERVER_URL must be set with OIDC_CLIENT_ID: the provider's issuer URL")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": env.str("OIDC_PROVIDER_ID", default="oidc"),
                "name": env.str("OIDC_NAME", default="OpenID Connect"),
                "client_id": env.str("OIDC_CLIENT_ID"),
                "secret": env.str("OIDC_CLIENT_SECRET", default=""),
                "settings": {"server_url": env.str("OIDC_SERVER_URL")},
            }
        ],
        "OAUTH_PKCE_ENABLED": True,
    }
# The session cookie goes with PWD's SDK's calls from another site only as SameSite=None, which needs HTTPS.
SESSION_COOKIE_SAMESITE = env.str("SESSION_COOKIE_SAMESITE", default="Lax")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SESSION_COOKIE_SAMESITE == "None")
if SESSION_COOKIE_SAMESITE == "None" and not SESSION_COOKIE_SECURE:
    raise ImproperlyConfigured("SESSION_COOKIE_SAMESITE=None needs SESSION_COOKIE_SECURE: browsers drop it otherwise")

# CORS (corsheaders): other sites that embed the SDK; they may create and drive sessions with credentials.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/(sessions/.*|users/me|oauth/providers)?$"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)

# Channels
ASGI_APPLICATION = "playground.asgi.application"
# redis-py 8 times reads out after 5 s by default, exactly as long as channels-redis blocks waiting for a
# message: an idle WebSocket consumer then dies with "Timeout reading". Give the read a margin.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
    },
}

# Sessions and their sandboxes (sessions)
# Hosts ("host" or "host:port") whose files the server fetches for a learner: stacks (`?stack=`) and uploads by
# `url=`. Empty: fetching is off. Each fetch is cut at FETCH_MAX_BYTES and FETCH_TIMEOUT seconds.
FETCH_ALLOWED_HOSTS = env.list("FETCH_ALLOWED_HOSTS", default=["raw.githubusercontent.com"])
FETCH_MAX_BYTES = env.int("FETCH_MAX_BYTES", default=100 * 1024 * 1024)
FETCH_TIMEOUT = env.float("FETCH_TIMEOUT", default=120.0)
# Stacks (`?stack=`, POST /sessions/{id}/stack): a compose file is at most STACK_MAX_BYTES (fetched or uploaded);
# its deploy inside the instance is cut at STACK_DEPLOY_TIMEOUT seconds and STACK_OUTPUT_LIMIT bytes of output
# (pulls print a line per layer and step: a few images print some 100 KiB).
STACK_MAX_BYTES = env.int("STACK_MAX_BYTES", default=256 * 1024)
STACK_DEPLOY_TIMEOUT = env.float("STACK_DEPLOY_TIMEOUT", default=300.0)
STACK_OUTPUT_LIMIT = env.int("STACK_OUTPUT_LIMIT", default=1024 * 1024)
# Seconds after which a deploy still queued or running (its worker died) no longer keeps the next one out.
STACK_DEPLOY_LEASE = env.int("STACK_DEPLOY_LEASE", default=900)
# Stack deploys queued or running at once on the whole site (each holds a worker thread: WORKER_CONCURRENCY).
STACK_DEPLOYS_AT_ONCE = env.int("STACK_DEPLOYS_AT_ONCE", default=4)
# Uploads into an instance (POST …/uploads): largest body or fetched file (bytes), longest time one may take
# (seconds), and how many one web process streams at once, in all and per session (past either, 429).
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=1024 * 1024 * 1024)
UPLOAD_TIMEOUT = env.float("UPLOAD_TIMEOUT", default=900.0)
UPLOADS_AT_ONCE = env.int("UPLOADS_AT_ONCE", default=8)
UPLOADS_PER_SESSION = env.int("UPLOADS_PER_SESSION", default=2)
# An upload the instance stops taking (its `cat` does not read), or whose client sends nothing, for this many
# seconds is cut.
UPLOAD_STALL_TIMEOUT = env.float("UPLOAD_STALL_TIMEOUT", default=30.0)
# The editor (…/fstree, …/file): largest file it opens or saves (bytes; saved files also pass MAX_REQUEST_BODY),
# and how deep and how many entries of a folder it lists.
EDITOR_MAX_BYTES = env.int("EDITOR_MAX_BYTES", default=512 * 1024)
FSTREE_DEPTH = env.int("FSTREE_DEPTH", default=4)
FSTREE_ENTRIES = env.int("FSTREE_ENTRIES", default=2000)
# Sessions one client address may start per minute (0: no limit): each holds a /24 of the pool for hours.
SESSION_STARTS_PER_MINUTE = env.int("SESSION_STARTS_PER_MINUTE", default=10)
# Sessions one client address may hold at once.
SESSIONS_PER_CLIENT = env.int("SESSIONS_PER_CLIENT", default=5)
# Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed: a request from one of them counts for the
# rightmost address in that header that is not one of them (sessions/clients.py). Empty: the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _e:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_e}") from _e
# The platform's own dockerd (compose/engine/start), whose containers run in a user namespace. Any other
# engine is refused at first use unless it runs with userns-remap too: a learner is root in a sandbox only.
SANDBOX_ENGINE = env.str("SANDBOX_ENGINE", default="unix:///run/playground/engine.sock")
SANDBOX_DEPLOYMENT = env.str("SANDBOX_DEPLOYMENT", default="default")
SANDBOX_IMAGE = env.str("SANDBOX_IMAGE", default="playground/dind:latest")
# Each sandbox's own disk (its root file system's writes and its /var/lib/docker), in MiB.
SANDBOX_DISK_MB = env.int("SANDBOX_DISK_MB", default=10 * 1024)
# New instances are refused while the engine's file system has less free than this (MiB), or the host less
# memory available than this (MiB) beyond what one more instance takes.
SANDBOX_DISK_RESERVE_MB = env.int("SANDBOX_DISK_RESERVE_MB", default=5 * 1024)
SANDBOX_MEMORY_RESERVE_MB = env.int("SANDBOX_MEMORY_RESERVE_MB", default=1024)
# Whether sandboxes reach the internet (through the host's NAT); never the host, private networks or each other.
SANDBOX_EGRESS = env.bool("SANDBOX_EGRESS", default=True)
SANDBOX_SUBNET_POOL = env.str("SANDBOX_SUBNET_POOL", default="10.213.0.0/16")
# Each session's network is a free subnet of this size in the pool: a /26 holds 61 instances, and the default pool
# about a thousand sessions (a /24 each held only 254 sessions, fewer than one host runs).
SESSION_SUBNET_PREFIX = env.int("SESSION_SUBNET_PREFIX", default=26)
SANDBOX_READY_TIMEOUT = env.float("SANDBOX_READY_TIMEOUT", default=60.0)
# Instances one host runs at most. 0: as many as its memory holds past SANDBOX_MEMORY_RESERVE_MB, at what the
# running ones take each, and INSTANCES_PER_CORE for each core (sessions/capacity.py); a positive number caps that.
MAX_INSTANCES_PER_HOST = env.int("MAX_INSTANCES_PER_HOST", default=0)
if MAX_INSTANCES_PER_HOST < 0:
    raise ImproperlyConfigured("MAX_INSTANCES_PER_HOST must be 0 (from the host's memory) or a positive cap")
# Instances per core. bench/density: 300 idle one-node instances kept 2 cores 19 % busy (BENCHMARKS.md),
# which leaves room for the ones in use. A fixed number, not a measured load: one learner's busy loops would
# otherwise turn everyone else away (PSI counts a sandbox's throttled threads as waiting).
INSTANCES_PER_CORE = env.int("INSTANCES_PER_CORE", default=150)
if INSTANCES_PER_CORE < 1:
    raise ImproperlyConfigured("INSTANCES_PER_CORE must be at least 1")
PLAYGROUND_DOMAIN = env.str("PLAYGROUND_DOMAIN", default="localhost")
DEBIAN_MIRROR = env.str("DEBIAN_MIRROR", default="http://deb.debian.org/debian")
# PWD's exec (POST …/instances/{name}/exec): seconds a command may run before it is stopped (422).
EXEC_TIMEOUT = env.float("EXEC_TIMEOUT", default=60.0)
# Commands one session, and all sessions together, may have running through exec at once, per web process (429
# past either): each holds a thread of the process until it ends.
EXEC_PER_SESSION = env.int("EXEC_PER_SESSION", default=4)
if EXEC_PER_SESSION < 1:
    raise ImproperlyConfigured("EXEC_PER_SESSION must be at least 1")
EXECS_AT_ONCE = env.int("EXECS_AT_ONCE", default=32)
# PWD's setup (POST /sessions/{id}/setup): instances started at once; seconds for the swarm's steps (from its
# leader running), then as many for every command together. With no more instances than SETUP_PARALLEL the
# request lasts up to SANDBOX_READY_TIMEOUT + 2 * SETUP_TIMEOUT: a reverse proxy in front must wait longer than
# that for an answer (nginx's proxy_read_timeout defaults to 60 s).
SETUP_PARALLEL = env.int("SETUP_PARALLEL", default=5)
if SETUP_PARALLEL < 1:
    raise ImproperlyConfigured("SETUP_PARALLEL must be at least 1")
SETUP_TIMEOUT = env.float("SETUP_TIMEOUT", default=60.0)
# Setups one web process runs at once (429 past it): each holds SETUP_PARALLEL + 1 threads until it ends.
SETUPS_AT_ONCE = env.int("SETUPS_AT_ONCE", default=4)
# Warm pool (sessions/warm.py): sessions kept ready per playground, each with WARM_POOL_INSTANCES nodes booted,
# handed to the next learner who clicks Start (0: off). Each warm seat holds its nodes' memory while it waits.
WARM_POOL_SIZE = env.int("WARM_POOL_SIZE", default=0)
WARM_POOL_INSTANCES = env.int("WARM_POOL_INSTANCES", default=1)
if WARM_POOL_SIZE < 0 or WARM_POOL_INSTANCES < 1:
    raise ImproperlyConfigured("WARM_POOL_SIZE must be 0 (off) or more, and WARM_POOL_INSTANCES at least 1")
# Seconds a warm session waits for a learner before it is replaced by a fresh one.
WARM_POOL_MAX_AGE = env.float("WARM_POOL_MAX_AGE", default=3600.0)
# Warm sessions booting at once (each boot keeps a core busy for a second or two, and a worker thread).
WARM_POOL_BOOTS_AT_ONCE = env.int("WARM_POOL_BOOTS_AT_ONCE", default=2)
# Share of the host's instance capacity (percent) a pool leaves to learners: it stops filling past the rest.
WARM_POOL_KEEP_FREE = env.int("WARM_POOL_KEEP_FREE", default=20)
# Expiry and reconciliation: a Celery worker, and exactly one beat that runs the sweep every SWEEP_INTERVAL seconds.
SWEEP_INTERVAL = env.float("SWEEP_INTERVAL", default=5.0)
# An ending claimed longer ago than this is taken over: the worker doing it has died.
ENDING_LEASE = env.float("ENDING_LEASE", default=15.0)
# Labelled objects younger than this are never orphans: their database row may not be committed yet.
ORPHAN_GRACE = env.float("ORPHAN_GRACE", default=60.0)
# An instance still provisioning after this long lost the process that was starting it.
PROVISIONING_TIMEOUT = env.float("PROVISIONING_TIMEOUT", default=SANDBOX_READY_TIMEOUT + 120)

# Workshops (workshops): a workshop's warm pool starts filling this many seconds before it starts, and empties when
# it ends; its trainer's dashboard refreshes time left every WORKSHOP_DASHBOARD_REFRESH seconds.
WORKSHOP_WARM_LEAD = env.float("WORKSHOP_WARM_LEAD", default=900.0)
WORKSHOP_DASHBOARD_REFRESH = env.float("WORKSHOP_DASHBOARD_REFRESH", default=5.0)
# New seats one client address may take per minute, over every workshop: as many as the workshop it joins has
# seats (a whole room behind one classroom NAT), so a code leaked with a script fills one room, never every
# room whose code it holds. Off (false): no limit. Joining is never counted by SESSION_STARTS_PER_MINUTE.
WORKSHOP_SEATS_PER_ADDRESS_LIMIT = env.bool("WORKSHOP_SEATS_PER_ADDRESS_LIMIT", default=True)
# Seconds a lesson step's check may run in the learner's instance before it is stopped (and the step fails).
LESSON_CHECK_TIMEOUT = env.float("LESSON_CHECK_TIMEOUT", default=10.0)

# Celery (the worker and beat that run sessions/tasks.py)
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks wait on the Docker Engine, not on the CPU: threads, and a task whose worker dies is delivered again.
CELERY_WORKER_POOL = "threads"
CELERY_WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=8)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The pool of engines (sessions/engines.py): each is pinged every ENGINE_CHECK_INTERVAL seconds; one that misses
# ENGINE_DOWN_AFTER pings in a row (a minute: longer than an engine restart, which live-restore rides out) is
# down, and its sessions end. A new session goes on the engine with the most free memory, counting each instance
# at the mean the running ones take, else at INSTANCE_MEMORY_ESTIMATE_MB (an idle instance measured 40-44 MiB
# here, plus its shim).
ENGINE_CHECK_INTERVAL = env.float("ENGINE_CHECK_INTERVAL", default=10.0)
ENGINE_DOWN_AFTER = env.int("ENGINE_DOWN_AFTER", default=6)
INSTANCE_MEMORY_ESTIMATE_MB = env.int("INSTANCE_MEMORY_ESTIMATE_MB", default=45)
if ENGINE_DOWN_AFTER < 1 or INSTANCE_MEMORY_ESTIMATE_MB < 1:
    raise ImproperlyConfigured("ENGINE_DOWN_AFTER and INSTANCE_MEMORY_ESTIMATE_MB must be at least 1")
CELERY_BEAT_SCHEDULE = {
    # A sweep not started within one interval is dropped: the next one does the same work.
    "sweep": {"task": "sessions.tasks.sweep", "schedule": SWEEP_INTERVAL, "options": {"expires": SWEEP_INTERVAL}},
    "warm-pools": {
        "task": "sessions.tasks.keep_pools_warm",
        "schedule": SWEEP_INTERVAL,
        "options": {"expires": SWEEP_INTERVAL},
    },
    "engines": {
        "task": "sessions.tasks.check_engines",
        "schedule": ENGINE_CHECK_INTERVAL,
        "options": {"expires": ENGINE_CHECK_INTERVAL},
    },
}

# Terminals (terminals)
# Seconds a web process keeps reading a terminal nobody watches, so its recent output is there on return.
TERMINAL_LINGER = env.float("TERMINAL_LINGER", default=900.0)
# Seconds the platform waits for an instance's own engine to answer a call (its published ports).
INSTANCE_API_TIMEOUT = env.float("INSTANCE_API_TIMEOUT", default=5.0)
# Each terminal's output recorded as asciicast v2 (terminals/recording.py), one file per instance under
# RECORDINGS_DIR/<session>/, deleted when the session ends (sessions/recordings.py). A recording stops for good at
# RECORDING_MAX_BYTES (one more event and a closing marker may pass it).
TERMINAL_RECORDING = env.bool("TERMINAL_RECORDING", default=True)
RECORDINGS_DIR = Path(env.str("RECORDINGS_DIR", default=str(DATA_DIR / "recordings")))
RECORDING_MAX_BYTES = env.int("RECORDING_MAX_BYTES", default=4 * 1024 * 1024)
# All of a session's recordings together (deleted instances' stay until it ends): a new one is cut to what is left.
RECORDING_SESSION_MAX_BYTES = env.int("RECORDING_SESSION_MAX_BYTES", default=32 * 1024 * 1024)

# SSH gateway (gateway)
SSH_GATEWAY_BIND = env.str("SSH_GATEWAY_BIND", default="0.0.0.0")
SSH_GATEWAY_PORT = env.int("SSH_GATEWAY_PORT", default=1022)
SSH_GATEWAY_HOST_KEY = Path(env.str("SSH_GATEWAY_HOST_KEY", default=str(DATA_DIR / "ssh_host_ed25519_key")))
# Failed logins one client address may make at once, and how many it earns back per minute (per gateway process).
SSH_GATEWAY_FAILURE_BURST = env.int("SSH_GATEWAY_FAILURE_BURST", default=10)
SSH_GATEWAY_FAILURES_PER_MINUTE = env.float("SSH_GATEWAY_FAILURES_PER_MINUTE", default=6.0)

# Metrics (metrics, sessions/monitoring.py): GET /metrics in Prometheus' text format, for these client addresses
# or CIDRs only (through TRUSTED_PROXIES); others get 403. Every process writes its counters to files in
# METRICS_DIR (prometheus-client's multiprocess mode), which /metrics adds up: bin/run empties it at start-up.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _e:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_e}") from _e
METRICS_DIR = Path(env.str("PROMETHEUS_MULTIPROC_DIR", default=str(DATA_DIR / "metrics")))
# prometheus-client picks multiprocess mode when it is imported, from this variable; its children inherit it.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# Seconds GET /ping waits for each engine before it calls it down (503).
PING_TIMEOUT = env.int("PING_TIMEOUT", default=3)

# Direct router (router): *.direct.<PLAYGROUND_DOMAIN> and docker-machine names, HTTP by Host, TLS by SNI.
ROUTER_BIND = env.str("ROUTER_BIND", default="0.0.0.0")
ROUTER_PORT = env.int("ROUTER_PORT", default=8443)
# One asyncio process forwards on one core; this many share the port (SO_REUSEPORT), one per core by default.
ROUTER_PROCESSES = env.int("ROUTER_PROCESSES", default=os.cpu_count() or 1)
# The port learners' browsers and CLIs reach the router on (differs behind a balancer or port mapping).
ROUTER_PUBLIC_PORT = env.int("ROUTER_PUBLIC_PORT", default=ROUTER_PORT)

# Registry mirror (mirror): what sandboxes pull from (issue 5). Read-only for sandboxes; seeded by
# `manage.py seed_mirror`.
MIRROR_STORAGE = Path(env.str("MIRROR_STORAGE", default=str(DATA_DIR / "registry")))
MIRROR_PORT = env.int("MIRROR_PORT", default=5000)
# Where sandboxes reach the mirror; empty: the host's address on a bridge of its own, the pool's last /24.
MIRROR_HOST = env.str("MIRROR_HOST", default="")
# Offline, pulls from Docker Hub (or any other registry) are sent here and refused at once with a clear message.
MIRROR_OFFLINE_PORT = env.int("MIRROR_OFFLINE_PORT", default=5001)
# With internet access, e.g. https://registry-1.docker.io: images not seeded are fetched and cached on first pull.
MIRROR_PROXY_URL = env.str("MIRROR_PROXY_URL", default="")
