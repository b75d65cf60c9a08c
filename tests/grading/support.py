"""Helpers for the grader's tests (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from exercises.grading.types import CheckResult, GradeResult

FIXTURES = Path(__file__).parent / "fixtures"
ASSETS = Path(__file__).resolve().parents[2] / "exercises" / "assets" / "docker-production"
# The lecture's two set-ups are graded straight from the exercise's assets (one source of truth).
LEARNER_FILES_OF = {
    "reference": (ASSETS / "reference", ("Dockerfile", "docker-compose.yml")),
    "development": (ASSETS / "starter", ("Dockerfile", "docker-compose.yml")),
}


def read_fixture(name: str) -> dict[str, str | bytes]:
    """A fixture directory (or one of the lecture's set-ups) as {relative name: text}."""
    if name in LEARNER_FILES_OF:
        root, names = LEARNER_FILES_OF[name]
        return {n: (root / n).read_text() for n in names}
    root = FIXTURES / name
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check(result: GradeResult, check_id: str) -> CheckResult:
    """One check of a result, by id (fails the test with the error if there are no checks)."""
    assert result.checks, (
        f"no checks: status={result.status} error={result.error} policy={result.policy}"
    )
    return next(c for c in result.checks if c.id == check_id)


def evidence(result: GradeResult, check_id: str) -> str:
    return "\n".join(check(result, check_id).evidence)


def replaced(
    files: dict[str, str | bytes], name: str, old: str, new: str
) -> dict[str, str | bytes]:
    """A copy of `files` with one exact replacement in `name` (which must contain `old` once)."""
    text = files[name]
    assert isinstance(text, str) and text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    return {**files, name: text.replace(old, new)}
