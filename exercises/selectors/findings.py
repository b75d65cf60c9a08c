"""Findings on the learner's lines: the grader speaks in evidence sentences; this puts them on
the line of the file they are about, for the editors' gutter and the result page.

- a syntax error: the YAML parser's own mark (line and column), with an excerpt and a caret;
- hadolint: its line, at its level;
- a failing check's "Dockerfile line N" evidence: that line;
- a failing check's evidence about a compose service: the line of the key it names inside that
  service (`ports`, `image`, `POSTGRES_PASSWORD`...), found from the YAML nodes' positions, or
  the service's own line.

The grader is not changed for this: it is a reading of its JSON result.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import yaml

DOCKERFILE = "Dockerfile"
COMPOSE_FILE = "docker-compose.yml"
EXCERPT_CONTEXT = 2  # lines shown before the error line

HADOLINT = re.compile(
    r"^hadolint (?P<code>\S+) \(line (?P<line>\d+), (?P<level>\w+)\): (?P<text>.*)"
)
DOCKERFILE_LINE = re.compile(r"Dockerfile line (?P<line>\d+)")
SERVICE = re.compile(r"\b[Ss]ervice (?P<name>[A-Za-z0-9_.-]+)")
ERROR_LINE = re.compile(r"^(?P<file>Dockerfile|docker-compose\.yml)\b.*?\bline (?P<line>\d+)")
# words of the grader's sentences → the compose key they are about
KEY_WORDS = {
    "port": "ports",
    "memory": "deploy",
    "CPU": "deploy",
    "healthcheck": "healthcheck",
    "depends_on": "depends_on",
    "wait for": "depends_on",
    "image": "image",
    "NODE_ENV": "environment",
    "volume": "volumes",
    "bind mount": "volumes",
    "command": "command",
    "user": "user",
}
HADOLINT_SEVERITY = {"error": "error", "warning": "warning"}


@dataclass(frozen=True)
class Finding:
    file: str  # DOCKERFILE or COMPOSE_FILE
    line: int  # 1-based
    severity: str  # "error" | "warning" | "info"
    message: str
    check: str = ""  # the check id it belongs to ("" for a syntax error)
    column: int = 0  # 1-based; 0 when unknown

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Excerpt:
    """A few lines of a file around an error, with the caret's column."""

    file: str
    line: int
    column: int
    lines: list[tuple[int, str]]

    @property
    def caret_pad(self) -> str:
        return " " * max(0, self.column - 1)


# Compose positions --------------------------------------------------------------------------


def _key_lines(node: yaml.Node, depth: int = 0) -> list[tuple[str, int]]:
    """(key, 1-based line) for every mapping key under `node`, down to a few levels, plus the
    text of sequence items (e.g. `POSTGRES_PASSWORD=...` in a list-style environment)."""
    found: list[tuple[str, int]] = []
    if depth > 4:
        return found
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found.append((str(key.value), key.start_mark.line + 1))
            found.extend(_key_lines(value, depth + 1))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                found.append((str(item.value), item.start_mark.line + 1))
            else:
                found.extend(_key_lines(item, depth + 1))
    return found


def compose_positions(text: str) -> dict[str, tuple[int, list[tuple[str, int]]]]:
    """service name → (line of its key, the keys inside it with their lines); {} if unparsable."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, value in root.value:
        if key.value == "services" and isinstance(value, yaml.MappingNode):
            return {
                str(name.value): (name.start_mark.line + 1, _key_lines(body))
                for name, body in value.value
            }
    return {}


def _compose_line(message: str, service: tuple[int, list[tuple[str, int]]]) -> int:
    line, keys = service
    for key, key_line in keys:  # a key named in the message: POSTGRES_PASSWORD, ports...
        bare = key.split("=", 1)[0]
        if len(bare) > 3 and re.search(rf"\b{re.escape(bare)}\b", message):
            return key_line
    for word, key in KEY_WORDS.items():
        if word in message:
            for name, key_line in keys:
                if name == key:
                    return key_line
    return line


# Findings ---------------------------------------------------------------------------------------


def yaml_error_mark(text: str) -> tuple[int, int] | None:
    """(line, column), 1-based, of the YAML parser's complaint about `text`; None if it parses."""
    try:
        for _ in yaml.safe_load_all(text):
            pass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return mark.line + 1, mark.column + 1
    except yaml.YAMLError:
        return None
    return None


def _error_findings(error: str, files: dict[str, str]) -> list[Finding]:
    match = ERROR_LINE.match(error)
    if not match:
        return []
    name, line, column = match["file"], int(match["line"]), 0
    if name == COMPOSE_FILE:
        mark = yaml_error_mark(files.get(COMPOSE_FILE, ""))
        if mark is not None:
            line, column = mark
    return [Finding(name, line, "error", error, "", column)]


def _evidence_findings(
    check: dict[str, Any], compose: dict[str, tuple[int, list[tuple[str, int]]]]
) -> list[Finding]:
    found = []
    failed = not check.get("passed")
    for text in check.get("evidence") or []:
        if text.startswith("sandbox:") or text.startswith("recommended"):
            continue
        hadolint = HADOLINT.match(text)
        if hadolint:
            severity = HADOLINT_SEVERITY.get(hadolint["level"], "info")
            found.append(Finding(DOCKERFILE, int(hadolint["line"]), severity, text, check["id"]))
            continue
        bad = failed and (text.startswith("✗") or text.startswith("warning:"))
        if not bad:
            continue
        severity = "warning" if text.startswith("warning:") else "error"
        line = DOCKERFILE_LINE.search(text)
        if line:
            found.append(Finding(DOCKERFILE, int(line["line"]), severity, text, check["id"]))
            continue
        service = SERVICE.search(text)
        if service and service["name"] in compose:
            where = _compose_line(text, compose[service["name"]])
            found.append(Finding(COMPOSE_FILE, where, severity, text, check["id"]))
    return found


def result_findings(*, result: dict[str, Any] | None, files: dict[str, str]) -> list[Finding]:
    """Every finding of a static or final result that can be put on a line, in file order."""
    if not result:
        return []
    findings = _error_findings(result.get("error") or "", files)
    compose = compose_positions(files.get(COMPOSE_FILE, "")) if not findings else {}
    for check in result.get("checks") or []:
        findings.extend(_evidence_findings(check, compose))
    unique = {(f.file, f.line, f.message): f for f in findings}
    return sorted(unique.values(), key=lambda f: (f.file != DOCKERFILE, f.line))


def error_excerpt(*, result: dict[str, Any] | None, files: dict[str, str]) -> Excerpt | None:
    """The lines around a syntax error, with the parser's column for a caret."""
    if not result or not result.get("error"):
        return None
    findings = _error_findings(result["error"], files)
    if not findings:
        return None
    finding = findings[0]
    lines = files.get(finding.file, "").splitlines()
    if not 0 < finding.line <= len(lines) + 1:
        return None
    start = max(1, finding.line - EXCERPT_CONTEXT)
    shown = [(n, lines[n - 1] if n <= len(lines) else "") for n in range(start, finding.line + 1)]
    return Excerpt(finding.file, finding.line, finding.column, shown)


@dataclass(frozen=True)
class FileLine:
    number: int
    text: str
    severity: str  # "" when nothing was found on the line
    messages: tuple[str, ...]


def annotated_files(
    *, files: dict[str, str], findings: list[Finding]
) -> list[tuple[str, list[FileLine]]]:
    """The learner's files line by line, each line with the findings about it (result page)."""
    by_line: dict[tuple[str, int], list[Finding]] = {}
    for finding in findings:
        by_line.setdefault((finding.file, finding.line), []).append(finding)
    order = sorted(files, key=lambda n: (n not in (DOCKERFILE, COMPOSE_FILE), n != DOCKERFILE, n))
    shown = []
    for name in order:
        lines = []
        for number, text in enumerate(files[name].splitlines() or [""], start=1):
            here = by_line.get((name, number), [])
            severity = next(
                (s for s in ("error", "warning", "info") if any(f.severity == s for f in here)), ""
            )
            lines.append(FileLine(number, text, severity, tuple(f.message for f in here)))
        shown.append((name, lines))
    return shown
