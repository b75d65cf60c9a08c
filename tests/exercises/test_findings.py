"""Findings on the learner's lines: the grader's evidence put on the line it is about."""

from __future__ import annotations

from exercises.selectors.findings import (
    annotated_files,
    compose_positions,
    error_excerpt,
    result_findings,
    yaml_error_mark,
)

from .conftest import DEVELOPMENT

COMPOSE = DEVELOPMENT["docker-compose.yml"]


def line_of(text: str, needle: str, after: int = 0) -> int:
    """The 1-based line of the first `needle` at or after line `after`."""
    lines = text.splitlines()
    return next(i + 1 for i, line in enumerate(lines) if i + 1 >= after and needle in line)


def check(check_id: str, *evidence: str, passed: bool = False) -> dict:
    return {"id": check_id, "passed": passed, "summary": "", "evidence": list(evidence)}


def test_compose_positions_come_from_the_yaml_nodes():
    services = compose_positions(COMPOSE)
    db = line_of(COMPOSE, "  db:")
    assert services["app"][0] == line_of(COMPOSE, "  app:") and services["db"][0] == db
    assert ("ports", line_of(COMPOSE, "ports:", after=db)) in services["db"][1]
    assert compose_positions("services: [") == {}


def test_each_finding_lands_on_the_line_it_is_about():
    result = {
        "status": "failed",
        "checks": [
            check("non-root-user", "hadolint DL3057 (line 2, warning): `HEALTHCHECK` missing."),
            check(
                "security-practices",
                "✗ The database service db publishes port 5432:5432 to the host.",
                "✗ Service db: POSTGRES_PASSWORD is a literal secret in the compose file.",
                "sandbox: service db publishes no ports",
            ),  # fmt: skip
            check("resource-limits", "✗ Service app has no memory limit."),
            check("environment-config", "✗ NODE_ENV is 'development' (service app)."),
            check("minimal-base-image", "Dockerfile line 2: final stage FROM node:18", passed=True),
        ],
    }
    found = {
        (f.file, f.line, f.severity) for f in result_findings(result=result, files=DEVELOPMENT)
    }
    assert found == {
        ("Dockerfile", 2, "warning"),
        ("docker-compose.yml", line_of(COMPOSE, '- "5432:5432"'), "error"),  # the ports item
        ("docker-compose.yml", line_of(COMPOSE, "POSTGRES_PASSWORD"), "error"),
        ("docker-compose.yml", line_of(COMPOSE, "  app:"), "error"),  # no limit: the service line
        ("docker-compose.yml", line_of(COMPOSE, "NODE_ENV=development"), "error"),
    }


def test_a_yaml_error_gets_the_parsers_line_column_and_an_excerpt():
    broken = COMPOSE.replace("    image: postgres:latest\n", "    image: postgres:latest: x\n")
    line = line_of(broken, "postgres:latest: x")
    assert yaml_error_mark(broken) == (line, 27)
    result = {"status": "error", "checks": [],
              "error": f"docker-compose.yml is not valid YAML: line {line}: mapping values are not allowed"}  # fmt: skip
    files = {**DEVELOPMENT, "docker-compose.yml": broken}
    [finding] = result_findings(result=result, files=files)
    assert (finding.file, finding.line, finding.column) == ("docker-compose.yml", line, 27)
    excerpt = error_excerpt(result=result, files=files)
    assert [n for n, _ in excerpt.lines] == [line - 2, line - 1, line]
    assert excerpt.caret_pad == " " * 26
    lines = dict(annotated_files(files=files, findings=[finding]))["docker-compose.yml"]
    assert lines[line - 1].severity == "error" and lines[line - 2].severity == ""
