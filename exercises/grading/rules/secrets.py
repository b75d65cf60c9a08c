"""Is a value a secret typed into a file? Literal values only: a file path, a number or
an amount of time, or a `${VARIABLE}` is not a literal secret."""

from __future__ import annotations

import re

from ..compose import has_variable
from .values import falsy_text, is_number_or_duration, truthy
from .vocabulary import SECRET_VALUE, ends_with_secret_word, is_secret_key

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_WHOLE_VARIABLE = re.compile(
    r"^\$(\{[A-Za-z_][A-Za-z0-9_]*([:]?[-?][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)$"
)
LITERAL_FALLBACK = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]+)\}")
# /run/secrets/db, ./secrets/x.txt, ~/.pgpass, C:\secrets\x: where a secret is, not what it is.
_PATH = re.compile(r"^(/|\./|\.\./|~/|[A-Za-z]:\\)[^\s]*$")


def url_userinfo(value: str) -> tuple[str, str | None] | None:
    """(user, password) of a URL's credentials, reading `${VAR:-x}` as one piece;
    None when the URL carries none."""
    match = _URL.match(value)
    if not match:
        return None
    rest, depth, end = value[match.end() :], 0, -1
    for i, char in enumerate(rest):
        if rest.startswith("${", i):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth == 0 and char in "/?#":
            break
        elif depth == 0 and char == "@":
            end = i
    if end < 0:
        return None
    userinfo, depth = rest[:end], 0
    for i, char in enumerate(userinfo):
        if userinfo.startswith("${", i):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and depth == 0:
            return userinfo[:i], userinfo[i + 1 :]
    return userinfo, None


def literal_part(text: str) -> bool:
    """A piece of a value that is typed in, not (only) a variable."""
    return bool(text) and not _WHOLE_VARIABLE.match(text)


def url_password_is_literal(value: str) -> bool:
    """postgres://app:hunter2@db/app, but not postgres://app:${DB_PASSWORD}@db/app."""
    info = url_userinfo(value)
    return bool(info and info[1] and not has_variable(info[1]))


def url_has_literal_credential(value: str) -> bool:
    """A user or password typed into a URL (environment-config's rule)."""
    info = url_userinfo(value)
    return bool(info) and any(literal_part(part or "") for part in info)  # type: ignore[union-attr]


def is_setting_value(value: str) -> bool:
    """A path, a number, a duration or a boolean: what a setting holds, not a secret."""
    text = value.strip()
    return (
        bool(_PATH.match(text)) or is_number_or_duration(text) or truthy(text) or falsy_text(text)
    )


def literal_secret(key: str, value: str) -> bool:
    """A secret typed into the file: a secret-looking key with a literal value, or a
    credential in the value itself (a URL with a password, a private key, a token)."""
    if SECRET_VALUE.search(value):
        return True
    if url_password_is_literal(value):
        return True
    if not is_secret_key(key) or has_variable(value) or not value.strip():
        return False
    if _PATH.match(value.strip()):
        return False  # DATABASE_PASSWORD=/run/secrets/db-password names a file
    # JWT_SECRET_ROTATION_DAYS=30 is a setting; DB_PASSWORD=123456 is not
    return not is_setting_value(value) or ends_with_secret_word(key)


def literal_fallback(key: str, value: str) -> str | None:
    """The literal secret a `${VAR:-literal}` falls back to, for a secret key."""
    if not is_secret_key(key):
        return None
    match = LITERAL_FALLBACK.search(value)
    if match and not is_setting_value(match.group(1)):
        return match.group(1)
    return None
