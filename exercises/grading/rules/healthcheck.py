"""Reading health checks: which test a service really gets, and whether it can fail.

A health check that cannot fail checks nothing: `curl` without `-f` exits 0 on the 503
the app answers while its database is down, `… || echo 1` and `… || exit 0` turn every
failure into success, `true` and `exit 0` never look at the app. The obvious spellings
are caught here; the runtime confirmation (the check run with the database stopped)
catches every other one.
"""

from __future__ import annotations

import re
from typing import Any

from ..dockerfile import exec_or_shell, words
from .analysis import Analysis
from .values import truthy

_TRIVIAL = re.compile(r"^\s*(true|:|exit\s+0|/bin/true|echo\b[^|;&]*)\s*$")
_SWALLOWED = re.compile(r"(\|\||;)\s*(true|:|exit\s+0|/bin/true|echo\b[^|;&]*)\s*$")
_SEPARATORS = re.compile(r"(\|\||&&|;|\|)")
_CURL_FAIL = re.compile(r"^(--fail(-with-body)?|--fail-early|-[a-zA-Z]*f[a-zA-Z]*)$")


def app_healthcheck(a: Analysis) -> tuple[str, list[str] | None]:
    """The healthcheck the app really gets: compose overrides the Dockerfile's."""
    compose_check = a.service(a.app).get("healthcheck")
    if isinstance(compose_check, dict) and (
        compose_check.get("disable") or compose_check.get("test")
    ):
        return "compose", compose_test(compose_check)
    instruction = a.final.healthcheck
    if instruction is None:
        return "Dockerfile", None
    if instruction.args.strip().upper() == "NONE":
        return "Dockerfile", ["NONE"]
    command = instruction.args.strip()
    command = command[3:].strip() if command.upper().startswith("CMD") else command
    return f"Dockerfile line {instruction.line}", ["CMD", *exec_or_shell(command)]


def compose_test(check: Any) -> list[str] | None:
    if not isinstance(check, dict):
        return None
    if truthy(check.get("disable")):
        return ["NONE"]
    test = check.get("test")
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [str(t) for t in test] if test else None


def shell_text(test: list[str]) -> str:
    """A test as one shell line, as the learner would read it."""
    plain = test[0].upper() in ("CMD", "CMD-SHELL")
    command = " ".join(test[1:] if plain else test)
    return command.removeprefix("/bin/sh -c ").replace("$$", "$")


def cannot_fail(command: str) -> str | None:
    """Why a health check command always succeeds, or None if it can fail."""
    if _TRIVIAL.search(command):
        return "it runs nothing that checks the app"
    if _SWALLOWED.search(command):
        return "its last step turns every failure into success"
    curl = _unchecked_curl(command)
    if curl:
        return f"{curl} exits 0 when the app answers 503; add -f"
    return None


def _unchecked_curl(command: str) -> str | None:
    """A curl whose exit status decides the result but which does not --fail."""
    parts = _SEPARATORS.split(command)
    for i in range(0, len(parts), 2):
        tokens = words(parts[i].strip())
        if not tokens or tokens[0].rsplit("/", 1)[-1] != "curl":
            continue
        piped = i + 1 < len(parts) and parts[i + 1] == "|"
        if piped or any(_CURL_FAIL.match(t) for t in tokens[1:]):
            continue
        return "curl without -f"
    return None
