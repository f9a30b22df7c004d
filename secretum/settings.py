"""Secretum's one settings module. Everything a site may change is a ``SECRETUM_*`` variable.

Secrets come from the instance's key file, never from this file or the repository (O2).
Unsafe combinations are refused by the system checks in ``secretum.core.checks``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from secretum import init as _init
from secretum import instance as _instance
from secretum.lib import dburl
from secretum.lib import logs as _logs

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_ports(name: str) -> set[int]:
    """A set of TCP ports: "21,2121" (empty: none)."""
    ports = set()
    for item in os.environ.get(name, "").split(","):
        if item.strip():
            port = int(item)
            if not 0 < port < 65536:
                raise ValueError(f"{name}: {port} is not a TCP port")
            ports.add(port)
    return ports


def env_str(name: str, default: str = "") -> str:
    """A string setting; ``NAME_FILE`` names a file holding it (for secrets)."""
    path = os.environ.get(name + "_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_list(name: str) -> list[str]:
    """A comma-separated setting, its entries stripped, empty ones left out."""
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


# --- the instance ----------------------------------------------------------------------------
if "PYTEST_VERSION" in os.environ and "SECRETUM_HOME" not in os.environ:
    # A bare `pytest` gets a throwaway instance of its own, never the demo's keys.
    os.environ["SECRETUM_HOME"] = tempfile.mkdtemp(prefix="secretum-test-") + "/var"
    _init.create(Path(os.environ["SECRETUM_HOME"]))

SECRETUM_HOME = _instance.home_from_env()
# Where the keys come from: the key file, SECRETUM_KEY_FILE or SECRETUM_KEY (docs/keys.md).
INSTANCE = _instance.Instance.from_env()
_keys = INSTANCE.read_keys() if INSTANCE.exists() else {}

# Empty until `secretum init` has run: Django then refuses to sign anything.
SECRET_KEY = str(_keys.get("django_secret_key", ""))

# Benchmark-only: turns off encryption and audit to measure their cost. `secretum check` and
# `secretum serve` refuse to run with it.
SECRETUM_BENCHMARK_BASELINE = env_bool("SECRETUM_BENCHMARK_BASELINE")

DEBUG = env_bool("SECRETUM_DEBUG")
# I5: a continuity copy (`secretum serve --read-only --from-backup FILE`): the latest backup,
# served read-only on a laptop while the server or the internet is down. The gate and a
# middleware refuse every write; sign-ins, sessions and the audit log go on in the copy, whose
# audit events `secretum audit merge-continuity` brings back (secretum.backup.continuity).
SECRETUM_READ_ONLY = env_bool("SECRETUM_READ_ONLY")
ALLOWED_HOSTS = [
    h.strip() for h in env_str("SECRETUM_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
]
PRACTICE_NAME = env_str("SECRETUM_PRACTICE_NAME", "Cabinet médical")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "secretum.core",
    "secretum.accounts",
    "secretum.access",
    "secretum.audit",
    "secretum.crypto",
    "secretum.patients",
    "secretum.clinical",
    "secretum.scheduling",
    "secretum.documents",
    "secretum.letters",
    "secretum.breaches",
    "secretum.maintenance",
    "secretum.compliance",
    "secretum.retention",
    "secretum.backup",
    "secretum.exchange",
    "secretum.mail",
]

MIDDLEWARE = [
    "secretum.crypto.middleware.KeyBindingMiddleware",  # O2: this key file, this database
    "django.middleware.security.SecurityMiddleware",
    "secretum.core.middleware.RequestIdMiddleware",
    "secretum.core.middleware.SecurityHeadersMiddleware",
    # F1, F4: a request from outside the allowed networks stops here, before any session.
    "secretum.access.networks.ClientNetworkMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # I5: a continuity copy refuses every unsafe request but signing in and out, and searches.
    "secretum.access.middleware.ReadOnlyMiddleware",
    "secretum.access.middleware.DenyByDefaultMiddleware",
]

ROOT_URLCONF = "secretum.urls"
WSGI_APPLICATION = "secretum.wsgi.application"

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
                "secretum.core.context.navigation",
            ],
            # issue 17: {% url %} reverses a route without arguments once per process.
            "builtins": ["secretum.core.templatetags.routes"],
        },
    },
]

# --- database --------------------------------------------------------------------------------
_db_url = env_str("SECRETUM_DATABASE_URL")
# H3: the PostgreSQL password from a file (mode 600), not inside the URL (`check` refuses that).
_db_password_file = os.environ.get("SECRETUM_DATABASE_PASSWORD_FILE", "").strip()
DATABASES = {
    "default": dburl.parse(_db_url, _db_password_file)
    if _db_url
    else dburl.sqlite_config(INSTANCE.database)
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- the host's listening ports (H3) ------------------------------------------------------------
# Nothing may listen on a port that carries passwords or data in clear: FTP and Telnet, and
# whatever a site adds. On a plain-HTTP port only Secretum's own redirect to HTTPS may listen.
# A site adds ports to either list; it cannot remove the defaults.
SECRETUM_FORBIDDEN_PORTS = sorted({21, 23} | env_ports("SECRETUM_FORBIDDEN_PORTS"))
SECRETUM_PLAIN_HTTP_PORTS = sorted({80, 8000, 8080} | env_ports("SECRETUM_PLAIN_HTTP_PORTS"))

# --- audit log (D1, D2) ----------------------------------------------------------------------
# The witness: an append-only file on another path (another disk, ideally another machine's
# mount), where every signed checkpoint is also written; optionally syslog to a remote host.
SECRETUM_AUDIT_WITNESS = Path(
    env_str("SECRETUM_AUDIT_WITNESS", str(SECRETUM_HOME / "witness" / "audit-checkpoints.log"))
)
SECRETUM_AUDIT_SYSLOG = env_str("SECRETUM_AUDIT_SYSLOG")  # host:port (UDP), empty: none
# The checkpoint key's fingerprint as `secretum init` printed it, kept outside the instance: a
# log re-signed with another key pair is then refused (verify, the signer, `check`). Empty: none.
SECRETUM_AUDIT_KEY_FINGERPRINT = env_str("SECRETUM_AUDIT_KEY_FINGERPRINT")
# Seconds between two checkpoints while `secretum serve` runs (at most 300, `check` refuses more).
SECRETUM_AUDIT_CHECKPOINT_INTERVAL = env_int("SECRETUM_AUDIT_CHECKPOINT_INTERVAL", 300)
# Alert when one user opens this many different patients' records within this many minutes.
SECRETUM_AUDIT_ALERT_PATIENTS = env_int("SECRETUM_AUDIT_ALERT_PATIENTS", 20)
SECRETUM_AUDIT_ALERT_MINUTES = env_int("SECRETUM_AUDIT_ALERT_MINUTES", 15)
# Key custody (O2, I2): the key file's recovery material is tested at least this often (days).
SECRETUM_RECOVERY_TEST_DAYS = env_int("SECRETUM_RECOVERY_TEST_DAYS", 365)

# --- accounts and passwords (B1, B2) ---------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Django's backend, refusing a user row altered outside Secretum (accounts/integrity.py).
AUTHENTICATION_BACKENDS = ["secretum.accounts.backends.SealedModelBackend"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]  # Argon2id (RFC 9106)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    # B2: the 100,000 most common passwords and their disguises (Django's list has 20,000 and
    # compares them as typed), then mostly repeated characters, sequences, keyboard walks.
    {"NAME": "secretum.accounts.password_policy.CommonPasswordValidator"},
    {
        "NAME": "secretum.accounts.password_policy.PredictablePasswordValidator",
        "OPTIONS": {"share": 0.6, "rest": 12},
    },
    {"NAME": "secretum.accounts.validators.MaximumLengthValidator"},
    {"NAME": "secretum.accounts.validators.NamesValidator"},
    {"NAME": "secretum.accounts.validators.HistoryValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# --- external identity provider (B3): OpenID Connect, off while no issuer is set ------------------
# The practice's provider (e.g. a broker to Belgian eID / itsme). The client secret is read from a
# file at each use, never from the environment or the database (O2); `secretum check` refuses an
# incomplete configuration (secretum.core.checks).
SECRETUM_OIDC_ISSUER = os.environ.get("SECRETUM_OIDC_ISSUER", "").strip()
SECRETUM_OIDC_CLIENT_ID = os.environ.get("SECRETUM_OIDC_CLIENT_ID", "").strip()
SECRETUM_OIDC_CLIENT_SECRET_FILE = os.environ.get("SECRETUM_OIDC_CLIENT_SECRET_FILE", "").strip()
SECRETUM_OIDC_LABEL = os.environ.get("SECRETUM_OIDC_LABEL", "").strip() or "eID / itsme"
# acr values and amr methods that count as a strong second factor at the provider: a login
# without one of them still asks for Secretum's own second factor.
SECRETUM_OIDC_STRONG_ACR = [
    v.strip() for v in os.environ.get("SECRETUM_OIDC_STRONG_ACR", "").split(",") if v.strip()
]
SECRETUM_OIDC_STRONG_AMR = [
    v.strip() for v in os.environ.get("SECRETUM_OIDC_STRONG_AMR", "").split(",") if v.strip()
]
# A CA bundle to verify the provider's TLS certificate instead of the system's (tests, a private
# CA). Verification itself is never turned off (H1).
SECRETUM_OIDC_CA_FILE = os.environ.get("SECRETUM_OIDC_CA_FILE", "").strip()

# --- outgoing mail: the compliance register's daily summary ------------------------------------
# Off while SECRETUM_SMTP_HOST is empty (`secretum compliance summary` then prints the summary).
# STARTTLS with a verified certificate (M4); the password is read from a file, never the
# environment (O2).
SECRETUM_SMTP_HOST = env_str("SECRETUM_SMTP_HOST").strip()
if SECRETUM_SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = SECRETUM_SMTP_HOST
    EMAIL_PORT = env_int("SECRETUM_SMTP_PORT", 587)
    EMAIL_HOST_USER = env_str("SECRETUM_SMTP_USER")
    _smtp_password = os.environ.get("SECRETUM_SMTP_PASSWORD_FILE", "").strip()
    EMAIL_HOST_PASSWORD = Path(_smtp_password).read_text().strip() if _smtp_password else ""
    EMAIL_USE_TLS = EMAIL_PORT != 465
    EMAIL_USE_SSL = EMAIL_PORT == 465
    EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = env_str("SECRETUM_SMTP_FROM", "secretum@localhost")
# A practice's own CA bundle (PEM) to verify the mail server's certificate instead of the
# system's; verification itself is never turned off (M4, secretum/mail/transport.py).
SECRETUM_SMTP_CA_FILE = env_str("SECRETUM_SMTP_CA_FILE").strip()
# M5: who carries the practice's mail and where it keeps it ("EU" or "non-EU"), shown in the
# register: the provider is the practice's choice, Secretum says what it was told.
SECRETUM_MAIL_PROVIDER = env_str("SECRETUM_MAIL_PROVIDER").strip()
SECRETUM_MAIL_PROVIDER_LOCATION = env_str("SECRETUM_MAIL_PROVIDER_LOCATION").strip()

# --- sessions and cookies --------------------------------------------------------------------
# Database sessions (nothing correctness needs lives in memory), keyed by a keyed digest of the
# identifier and sealed under the key file: the database never holds a usable session (B1, O2).
SESSION_ENGINE = "secretum.accounts.sessions"
SESSION_COOKIE_NAME = "__Host-secretum-session"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 12 * 3600  # the longest lifetime a practice may set (see PracticeSettings)
# E1: the practice sets its idle lock (1–20 minutes) in the application; this is a ceiling a
# provider may lower for all its practices (seconds; `secretum check` refuses above 1200).
SECRETUM_IDLE_TIMEOUT = env_int("SECRETUM_IDLE_TIMEOUT", 20 * 60)
CSRF_COOKIE_NAME = "__Host-secretum-csrf"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_FAILURE_VIEW = "secretum.core.views.csrf_failure"
# Messages ride in the (sealed, server-side) session: no cookie of their own, so every cookie
# Secretum sets (session, CSRF, language, and the known-device cookie of accounts/throttle.py)
# is __Host-, Secure, HttpOnly, SameSite=Strict.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- transport security (H1) -----------------------------------------------------------------
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# HSTS preload is a decision for a public domain name, not for a practice's own server.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin: a referrer never leaves the practice (H2), and Django can check a form's origin.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The certificate `serve` presents and its key: the self-signed pair `init` made, or the
# practice's own or an ACME client's, by path; `serve` loads renewed files without a restart.
SECRETUM_TLS_CERT_FILE = Path(os.environ.get("SECRETUM_TLS_CERT_FILE") or INSTANCE.tls_cert)
SECRETUM_TLS_KEY_FILE = Path(os.environ.get("SECRETUM_TLS_KEY_FILE") or INSTANCE.tls_key)
# Behind a TLS-terminating proxy (one that a provider runs), trust its header only when told.
if env_bool("SECRETUM_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- client networks (F1, F4): secretum.access.networks ------------------------------------
# Comma-separated networks (CIDR, IPv4 or IPv6) that may reach Secretum: the practice's own, and
# the VPN's range for devices away from it. Both empty: every address may (`check` and the
# register say so). A proxy of SECRETUM_TRUSTED_PROXIES is believed about the client's address
# (X-Forwarded-For); no other is. `serve` and `check` refuse an entry that is not a network.
SECRETUM_ALLOWED_NETWORKS = env_list("SECRETUM_ALLOWED_NETWORKS")
SECRETUM_REMOTE_NETWORKS = env_list("SECRETUM_REMOTE_NETWORKS")
SECRETUM_TRUSTED_PROXIES = env_list("SECRETUM_TRUSTED_PROXIES")

# --- updates (G2): secretum.core.updates ------------------------------------------------------
# The offline vulnerability database: OSV advisories for PyPI (a folder of JSON files or the
# zip osv.dev publishes), updated by the practice or its provider at least every 30 days.
SECRETUM_VULNERABILITY_DB = Path(
    os.environ.get("SECRETUM_VULNERABILITY_DB", "").strip() or SECRETUM_HOME / "vulnerabilities"
)

# --- backups (I1, I3, I4): secretum.backup ------------------------------------------------------
# Where `secretum backup create` and the scheduled backups of `secretum serve` write (default the
# instance's backups/ folder), and a second target folder (another disk, a mount of another
# machine) each scheduled backup is copied to; the server never deletes there.
SECRETUM_BACKUP_DIR = Path(
    os.environ.get("SECRETUM_BACKUP_DIR", "").strip() or SECRETUM_HOME / "backups"
)
SECRETUM_BACKUP_COPY_TO = os.environ.get("SECRETUM_BACKUP_COPY_TO", "").strip()
# The second target may be an SFTP server: sftp://user@host[:port]/folder, with the server's own
# private key and a known_hosts file holding the remote host's key (never learnt on first use).
SECRETUM_BACKUP_SFTP_KEY = os.environ.get("SECRETUM_BACKUP_SFTP_KEY", "").strip()
SECRETUM_BACKUP_SFTP_KNOWN_HOSTS = os.environ.get("SECRETUM_BACKUP_SFTP_KNOWN_HOSTS", "").strip()
# Seconds between two scheduled backups while `secretum serve` runs (0: none).
SECRETUM_BACKUP_EVERY = env_int("SECRETUM_BACKUP_EVERY", 24 * 3600)
# Grandfather-father-son retention in SECRETUM_BACKUP_DIR: the newest backup of each of the last
# so many days, ISO weeks and months is kept; the others are deleted after a scheduled backup.
SECRETUM_BACKUP_KEEP_DAILY = env_int("SECRETUM_BACKUP_KEEP_DAILY", 7)
SECRETUM_BACKUP_KEEP_WEEKLY = env_int("SECRETUM_BACKUP_KEEP_WEEKLY", 4)
SECRETUM_BACKUP_KEEP_MONTHLY = env_int("SECRETUM_BACKUP_KEEP_MONTHLY", 12)
# Managers are alerted when no good backup is younger than this, or no restore drill than that.
SECRETUM_BACKUP_MAX_AGE_HOURS = env_int("SECRETUM_BACKUP_MAX_AGE_HOURS", 48)
# G4: /healthz answers 503 when the instance folder's file system has less free space than this.
SECRETUM_HEALTH_MIN_FREE_MB = env_int("SECRETUM_HEALTH_MIN_FREE_MB", 512)
SECRETUM_BACKUP_DRILL_DAYS = env_int("SECRETUM_BACKUP_DRILL_DAYS", 90)
# --- documents attached to a patient (D4) and their antivirus scan (E2): secretum.documents ---
# The largest document accepted (bytes); the TLS front's SECRETUM_SERVE_MAX_BODY (16 MiB) must
# hold it in its multipart envelope. Held in memory until sealed, never in a temporary file.
SECRETUM_DOCUMENT_MAX_BYTES = env_int("SECRETUM_DOCUMENT_MAX_BYTES", 10 * 1024 * 1024)
# The ClamAV daemon's local socket (Debian's clamav-daemon: LocalSocket in /etc/clamav/clamd.conf).
SECRETUM_CLAMD_SOCKET = env_str("SECRETUM_CLAMD_SOCKET", "/var/run/clamav/clamd.ctl")
# When clamd does not answer: 0 refuses the upload at once (the default), N waits up to N seconds
# for it (a daemon restarting after an update) before refusing. Never accepted unscanned.
SECRETUM_SCANNER_WAIT = env_int("SECRETUM_SCANNER_WAIT", 0)
# The largest KMEHR message (a SumEHR from another package) an import reads, in bytes: a bigger
# one is refused before it is parsed (exchange/kmehr, issue 14).
SECRETUM_KMEHR_MAX_BYTES = env_int("SECRETUM_KMEHR_MAX_BYTES", 5 * 1024 * 1024)
# The register's E2 is met while clamd's signature database is at most this many days old.
SECRETUM_SIGNATURES_MAX_AGE_DAYS = env_int("SECRETUM_SIGNATURES_MAX_AGE_DAYS", 3)
# The scan intake (D4): the folder the practice's scanner drops files in (empty: none), emptied by
# `secretum documents intake --every N`; a file left longer than this many minutes is reported.
SECRETUM_INTAKE_DIR = env_str("SECRETUM_INTAKE_DIR").strip()
SECRETUM_INTAKE_WARN_MINUTES = env_int("SECRETUM_INTAKE_WARN_MINUTES", 60)

# --- languages -------------------------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("nl", "Nederlands"), ("en", "English")]
LANGUAGE_COOKIE_NAME = "__Host-secretum-language"
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Strict"
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env_str("SECRETUM_TIME_ZONE", "Europe/Brussels")

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True  # no collectstatic step for a single-server practice
WHITENOISE_AUTOREFRESH = DEBUG

# Logs (secretum.lib.logs): JSON lines with the request id on each, never a query string, a
# form's values or a name (H2); secretum.log and access.log in the instance's logs/ folder (0600),
# rotated by size. SECRETUM_LOG_DIR, SECRETUM_LOG_LEVEL, SECRETUM_LOG_MAX_BYTES, _BACKUPS.
LOGGING = _logs.dict_config(_logs.LogSettings.from_env(os.environ, SECRETUM_HOME))
