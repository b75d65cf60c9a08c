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
        ("docker-compose.yml", 22, "error"),  # the `- "5432:5432"` item under ports
        ("docker-compose.yml", 19, "error"),  # POSTGRES_PASSWORD
        ("docker-compose.yml", 3, "error"),  # no limit anywhere: the service's own line
        ("docker-compose.yml", 11, "error"),  # NODE_ENV=development
    }


def test_a_yaml_error_gets_the_parsers_line_column_and_an_excerpt():
    broken = COMPOSE.replace("    image: postgres:latest\n", "    image: postgres:latest: x\n")
    assert yaml_error_mark(broken) == (16, 27)
    result = {"status": "error", "checks": [],
              "error": "docker-compose.yml is not valid YAML: line 16: mapping values are not allowed"}  # fmt: skip
    files = {**DEVELOPMENT, "docker-compose.yml": broken}
    [finding] = result_findings(result=result, files=files)
    assert (finding.file, finding.line, finding.column) == ("docker-compose.yml", 16, 27)
    excerpt = error_excerpt(result=result, files=files)
    assert [n for n, _ in excerpt.lines] == [14, 15, 16] and excerpt.caret_pad == " " * 26
    lines = dict(annotated_files(files=files, findings=[finding]))["docker-compose.yml"]
    assert lines[15].severity == "error" and lines[14].severity == ""
