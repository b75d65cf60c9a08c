"""Fixtures for the submission tests: the real exercise, its two set-ups, a scripted grader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from exercises import services
from exercises.grading.types import (
    CHECK_IDS,
    CheckResult,
    Extension,
    GradeResult,
    InfrastructureError,
    Stage,
    Status,
)
from exercises.models import Exercise, Submission

ASSETS = Path(__file__).resolve().parents[2] / "exercises" / "assets" / "docker-production"


def read_setup(kind: str) -> dict[str, str]:
    """The reference answer ("reference") or the development set-up ("starter")."""
    return {
        name: (ASSETS / kind / name).read_text() for name in ("Dockerfile", "docker-compose.yml")
    }


REFERENCE = read_setup("reference")
DEVELOPMENT = read_setup("starter")


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.DRYDOCK_SUBMISSION_RATE = "100/600"  # the rate-limit tests set their own


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()  # the grading-health banner is cached
    yield
    cache.clear()


@pytest.fixture
def exercise(db, lecture) -> Exercise:
    return services.exercise_load(slug="docker-production")


def make_result(passed: int = 7, *, status: Status | None = None, mode: str = "full", error: str | None = None,
                notes: bool = False, internal: bool = False) -> GradeResult:  # fmt: skip
    checks = [
        CheckResult(
            id=check_id,
            passed=index < passed,
            summary=f"summary of {check_id}",
            evidence=[f"evidence of {check_id}", *(["sandbox: ports dropped"] if notes else [])],
            hint=f"hint for {check_id}",
        )  # fmt: skip
        for index, check_id in enumerate(CHECK_IDS)
    ]
    status = status or (Status.PASSED if passed == len(CHECK_IDS) else Status.FAILED)
    result = GradeResult(
        exercise="docker-production", status=status, mode=mode,
        checks=[] if status in (Status.ERROR, Status.REJECTED) else checks,
        extensions=[Extension("multi-stage", "Multi-stage build", True, ["FROM … AS builder"])],
        error=error,
    )  # fmt: skip
    result.log = "Step 1/9 : FROM node:18-alpine\nSuccessfully built abc\n"
    result.internal = internal
    return result


@dataclass
class ScriptedGrader:
    """Stands in for the grader: `static` answers the static pass (`grade_static`, or
    `grade_files` static-only), `full` the runtime pass (`grade_runtime`, or `grade_files`)
    (a GradeResult, an exception to raise, or a callable taking the progress callback).
    `calls` records each call; "runtime" marks the worker's runtime pass on a stored spec."""

    static: Any = field(default_factory=lambda: make_result(7, mode="static"))
    full: Any = field(default_factory=make_result)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(
        self, files, *, exercise="docker-production", static_only=False, progress=None, limits=None,
        engine=None, executables=(), job_id=None,
    ):  # fmt: skip
        self.calls.append(
            {
                "files": dict(files),
                "static_only": static_only,
                "executables": list(executables),
                "runtime": False,
            }  # fmt: skip
        )
        return self._answer(self.static if static_only else self.full, progress)

    def grade_static(self, files, *, exercise="docker-production", executables=()):
        self.calls.append(
            {
                "files": dict(files),
                "static_only": True,
                "executables": list(executables),
                "runtime": False,
            }  # fmt: skip
        )
        result = self._answer(self.static, None)
        runnable = result.status in (Status.PASSED, Status.FAILED)
        return result, ({"job_id": "scripted", "log": "compose warnings\n"} if runnable else None)

    def grade_runtime(
        self, files, *, static, spec, exercise="docker-production", executables=(), progress=None,
        limits=None, engine=None, job_id=None,
    ):  # fmt: skip
        self.calls.append(
            {
                "files": dict(files),
                "static_only": False,
                "executables": list(executables),
                "runtime": True,
                "spec": spec,
                "job_id": job_id,
            }  # fmt: skip
        )
        return self._answer(self.full, progress)

    @staticmethod
    def _answer(answer, progress):
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer) and not isinstance(answer, GradeResult):
            return answer(progress)
        return answer


@pytest.fixture
def grader(monkeypatch) -> ScriptedGrader:
    scripted = ScriptedGrader()
    monkeypatch.setattr(services.grader, "grade_files", scripted)
    monkeypatch.setattr(services.grader, "grade_static", scripted.grade_static)
    monkeypatch.setattr(services.grader, "grade_runtime", scripted.grade_runtime)
    return scripted


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Records grading tasks instead of publishing them to a broker."""
    sent: list[int] = []
    from exercises.tasks import grade_submission

    monkeypatch.setattr(grade_submission, "apply_async", lambda args, **kw: sent.append(args[0]))
    return sent


@pytest.fixture
def submit(
    learner, exercise, grader, enqueued, django_capture_on_commit_callbacks
) -> Callable[..., Submission]:
    """Create a submission through the service, running its on-commit enqueue."""

    def create(files: dict[str, str] | None = None, user=None) -> Submission:
        with django_capture_on_commit_callbacks(execute=True):
            return services.submission_create(
                learner=user or learner, exercise=exercise, files=files or REFERENCE
            )

    return create


__all__ = ["DEVELOPMENT", "REFERENCE", "InfrastructureError", "Stage", "make_result", "read_setup"]
