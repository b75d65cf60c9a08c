"""One vocabulary for the names the grader reasons about: secrets, credentials, databases.

A key is a secret when one of its words says so (`DB_PASSWORD`, `JWT_SECRET`, `API_KEY`),
unless its last word makes it a setting *about* the secret (`DB_PASSWORD_FILE`,
`TOKEN_TTL`, `JWT_SECRET_EXPIRES_IN`). The same words decide which variables the sandbox
fills with generated values, so the rules and the sandbox agree on what a secret is.
"""

from __future__ import annotations

import re

SECRET_WORDS = frozenset(
    {
        "PASS",
        "PASSWD",
        "PASSWORD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    }
)
SECRET_SUFFIXES = ("PASSWORD", "PASSWD", "TOKEN", "SECRET")
KEY_KINDS = frozenset(
    {
        "API",
        "PRIVATE",
        "ACCESS",
        "SECRET",
        "AUTH",
        "ENCRYPTION",
        "SIGNING",
        "MASTER",
        "SESSION",
        "JWT",
    }
)
# A last word that makes the value a setting about the secret, not the secret itself.
NOT_SECRET_LAST = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "LENGTH",
        "LEN",
        "TTL",
        "EXPIRY",
        "EXPIRES",
        "EXPIRE",
        "EXPIRATION",
        "IN",
        "AGE",
        "SECONDS",
        "MINUTES",
        "HOURS",
        "DAYS",
        "MS",
        "ROUNDS",
        "TIMEOUT",
        "HEADER",
        "METHOD",
        "URL",
        "URI",
        "ENDPOINT",
        "HOST",
        "PORT",
        "ENABLED",
        "REQUIRED",
        "TYPE",
        "ALGORITHM",
        "NAME",
    }
)
DATABASE_CONTEXT = re.compile(r"DB|DATABASE|POSTGRES|^PG|MYSQL|MARIA|MONGO", re.I)
CREDENTIAL_CONTEXT = re.compile(r"DB|DATABASE|POSTGRES|^PG|MYSQL|MARIA|MONGO|ADMIN|ROOT", re.I)
URL_KEY = re.compile(r"(URL|URI|DSN|CONNECTION_STRING)$", re.I)
USER_KEY = re.compile(r"(^|_|PG)(USER|USERNAME|LOGIN)$", re.I)
# Credentials recognisable from the value alone (private keys, cloud and forge tokens).
SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|"
    r"\bxox[abpr]-[A-Za-z0-9-]{10,}|\bsk_live_[A-Za-z0-9]{10,}"
)
# Database images, by the last part of their name.
DATABASE_IMAGES = re.compile(
    r"^(postgres|postgresql|postgis|timescaledb(-ha)?|mysql|mariadb|mongo|mongodb)$"
)


def key_words(key: str) -> list[str]:
    return [w for w in re.split(r"[^A-Z0-9]+", key.upper()) if w]


def is_secret_key(key: str) -> bool:
    """PASSWORD, DB_PASS, API_KEY, JWT_SECRET... but not DB_PASSWORD_FILE or TOKEN_TTL."""
    words = key_words(key)
    if not words or words[-1] in NOT_SECRET_LAST:
        return False
    if any(w in SECRET_WORDS or w.endswith(SECRET_SUFFIXES) for w in words):
        return True
    return any(a in KEY_KINDS and b == "KEY" for a, b in zip(words, words[1:], strict=False))


def ends_with_secret_word(key: str) -> bool:
    """DB_PASSWORD, JWT_SECRET, API_KEY: the key *is* the secret, whatever its value looks like."""
    words = key_words(key)
    return bool(words) and (
        words[-1] in SECRET_WORDS or words[-1].endswith(SECRET_SUFFIXES) or words[-1] == "KEY"
    )


def is_user_key(key: str, *, database_service: bool) -> bool:
    """POSTGRES_USER, DB_USERNAME, PGUSER: a credential when it belongs to a database."""
    return bool(USER_KEY.search(key)) and (database_service or bool(CREDENTIAL_CONTEXT.search(key)))
