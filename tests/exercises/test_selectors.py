"""Read side: progress, reports along the checklist, diffs, grading health."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from exercises import selectors
from exercises.models import Submission
from exercises.selectors import health as grading_health

from .conftest import DEVELOPMENT, REFERENCE, make_result

pytestmark = pytest.mark.django_db


def test_progress_steps_elapsed_time_and_log_tail(submit):
    submission = submit()
    now = timezone.now()
    submission.status, submission.started_at = "running", now - timedelta(seconds=42)
    submission.log = "".join(f"line {i}\n" for i in range(100))
    progress = selectors.submission_progress(submission=submission, now=now)
    assert (progress.step, progress.steps, progress.percent, progress.elapsed_s) == (3, 5, 60, 42)
    assert progress.log_tail.splitlines() == [f"line {i}" for i in range(75, 100)]
    assert progress.label == "Running the stack"


def test_report_follows_the_checklist_and_splits_sandbox_notes(exercise):
    result = make_result(4, notes=True).to_json()
    report = selectors.submission_report(exercise=exercise, result=result)
    assert [row.check_id for row in report.rows] == [
        item.check_id for item in exercise.checklist.all()
    ]
    assert (report.passed, report.total, report.score) == (4, 7, 57)
    row = report.rows[0]
    assert row.evidence == ["evidence of minimal-base-image"] and row.notes == [
        "sandbox: ports dropped"
    ]
    assert row.lesson_url.startswith("/courses/docker-in-production/") and "#" in row.lesson_url
    assert [e["title"] for e in report.extensions] == ["Multi-stage build"]
    assert selectors.submission_report(exercise=exercise, result=None) is None


def test_diff_of_two_attempts(submit):
    old = submit(DEVELOPMENT)
    new = submit({**REFERENCE, ".dockerignore": "node_modules\n"})
    diffs = {d.name: d for d in selectors.submission_diff(old=old, new=new)}
    assert [d.name for d in selectors.submission_diff(old=old, new=new)][:2] == [
        "Dockerfile",
        "docker-compose.yml",
    ]
    assert diffs[".dockerignore"].status == "added" and diffs["Dockerfile"].status == "changed"
    kinds = {line.kind for line in diffs["Dockerfile"].lines}
    assert {"add", "del", "hunk", "meta"} <= kinds
    same = selectors.submission_diff(old=old, new=old)
    assert all(d.status == "same" and d.lines == [] for d in same)


def test_health_is_quick_and_cached_when_everything_is_down(settings, monkeypatch):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    monkeypatch.setenv("DRYDOCK_GRADING_ENGINE", "unix:///nonexistent/docker.sock")
    started = time.monotonic()
    health = selectors.grading_health()
    assert time.monotonic() - started < 3
    assert (health.broker, health.workers, health.engine, health.ok) == (False, 0, False, False)
    monkeypatch.setattr(grading_health, "_broker_up", lambda: pytest.fail("not cached"))
    assert selectors.grading_health() == health


def test_pass_rates_cover_every_check_over_learners_best_attempts(
    submit, grader, django_user_model
):
    from exercises import services

    other = django_user_model.objects.create_user("other", password="x-Long-pass-42")
    for passed, user in ((7, None), (3, other), (0, other)):
        grader.full = make_result(passed)
        services.submission_grade(submission_id=submit(user=user).pk, task_id=f"t{passed}")
    rates = selectors.check_pass_rates(submissions=Submission.objects.all())
    assert [(r.passed, r.total) for r in rates] == [(2, 2)] * 3 + [(1, 2)] * 4
    assert rates[0].percent == 100 and rates[0].title == "Uses a minimal base image"


def test_health_can_read_the_engine_from_the_workers_reports_or_skip_it(settings, monkeypatch):
    health = pytest.importorskip("drydock.health")  # issue 7's module (workers' engine reports)

    settings.DRYDOCK_HEALTH_ENGINE = "off"
    assert grading_health._engine_up() is None
    settings.DRYDOCK_HEALTH_ENGINE = "workers"
    monkeypatch.setattr(
        health,
        "engine_reports",
        lambda: {"w1@host": {"ok": True, "detail": "engine 20.10"}},
    )
    assert grading_health._engine_up() is True
    monkeypatch.setattr(health, "engine_reports", lambda: {})
    assert grading_health._engine_up() is False
