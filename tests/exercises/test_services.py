"""Submission services: validation, rate limit, the lifecycle, retries, regrades, the janitor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings
from django.utils import timezone

from exercises import services
from exercises.grading import grader as real_grader
from exercises.grading.types import InfrastructureError, Stage, Status
from exercises.models import Submission, SubmissionCheck
from exercises.services import lifecycle, progress

from .conftest import DEVELOPMENT, REFERENCE, make_result

pytestmark = pytest.mark.django_db
S = Submission.Status


# Files ---------------------------------------------------------------------------------------


def test_clean_files_accepts_text_and_reports_every_problem_at_once():
    assert (
        services.submission_files_clean(files={**REFERENCE, ".dockerignore": b"node_modules\n"})[
            ".dockerignore"
        ]
        == "node_modules\n"
    )
    with pytest.raises(services.SubmissionError) as caught:
        services.submission_files_clean(
            files={
                "Dockerfile": b"\xff\xfe not utf-8",
                "docker-compose.yml": "x" * (256 * 1024 + 1),
                "../etc/passwd": "x",
                "notes.txt": "a\x00b",
            }
        )
    errors = caught.value.errors
    assert errors["Dockerfile"] == [services.FILE_NOT_UTF8.format(name="Dockerfile")]
    assert errors["docker-compose.yml"] == [
        services.FILE_TOO_LARGE.format(name="docker-compose.yml", size=257)
    ]
    assert errors["notes.txt"] == [services.FILE_BINARY.format(name="notes.txt")]
    assert errors[services.ALL_FILES] == [services.FILE_BAD_NAME.format(name="../etc/passwd")]


@pytest.mark.parametrize(
    "name", ["/abs", "a//b", "..", ".", "x..y", "a b", "", "é.txt", "x" * 101, ".git/config"]
)
def test_clean_files_refuses_unsafe_names(name):
    with pytest.raises(services.SubmissionError) as caught:
        services.submission_files_clean(files={**REFERENCE, name: "x"})
    assert services.ALL_FILES in caught.value.errors


def test_clean_files_accepts_folders_and_the_other_compose_names():
    """A .zip keeps its folders (scripts/entrypoint.sh) and may name its compose file as
    Docker Compose allows: the grader's rules, not stricter ones of the form."""
    files = {"Dockerfile": REFERENCE["Dockerfile"], "compose.yaml": REFERENCE["docker-compose.yml"]}
    cleaned = services.submission_files_clean(
        files={**files, "scripts/entrypoint.sh": b"#!/bin/sh\n"}
    )
    assert cleaned["scripts/entrypoint.sh"] == "#!/bin/sh\n"


def test_clean_files_has_the_graders_limits_and_messages():
    from exercises.grading import files as grading_files

    assert services.MAX_FILES == grading_files.MAX_FILES
    big = {f"f{i}.txt": "x" * (200 * 1024) for i in range(6)}  # each fine, 1.2 MiB together
    with pytest.raises(services.SubmissionError) as caught:
        services.submission_files_clean(files={**REFERENCE, **big})
    assert caught.value.errors == {services.ALL_FILES: [services.TOO_MUCH]}


def test_clean_files_requires_both_files_and_at_most_max_files():
    with pytest.raises(services.SubmissionError) as caught:
        services.submission_files_clean(files={"Dockerfile": "  \n"})
    assert caught.value.errors == {
        "Dockerfile": [services.FILE_REQUIRED.format(name="Dockerfile")],
        "docker-compose.yml": [services.FILE_REQUIRED.format(name="docker-compose.yml")],
    }
    with pytest.raises(services.SubmissionError) as caught:
        services.submission_files_clean(
            files={**REFERENCE, **{f"f{i}.txt": "x" for i in range(services.MAX_FILES - 1)}}
        )
    assert caught.value.errors[services.ALL_FILES] == [
        services.TOO_MANY_FILES.format(count=services.MAX_FILES + 1)
    ]


def test_log_tail_keeps_the_end():
    text = "".join(f"line {i}\n" for i in range(20_000))
    tail = progress.log_tail(text)
    assert len(tail) <= progress.LOG_CAP_CHARS + 30
    assert tail.startswith("… (earlier output cut)\nline ") and tail.endswith("line 19999\n")


# Creation and the static result ---------------------------------------------------------------------


def test_create_stores_the_static_result_and_enqueues_after_commit(submit, grader, enqueued):
    submission = submit()
    assert submission.status == S.QUEUED and submission.attempt is None
    assert submission.static_result["mode"] == "static" and submission.static_result["score"] == 100
    assert submission.files == REFERENCE and submission.enqueued_at is not None
    assert enqueued == [submission.pk]
    assert [call["static_only"] for call in grader.calls] == [True]


@override_settings(DRYDOCK_SUBMISSION_RATE="1/600")
def test_a_rejection_or_an_error_in_the_files_is_final_at_once_and_not_an_attempt(
    submit, grader, enqueued
):
    grader.static = make_result(status=Status.REJECTED, mode="static")
    first = submit()
    grader.static = make_result(status=Status.ERROR, mode="static", error="bad YAML on line 3")
    second = submit()
    assert (first.status, first.attempt, second.status, second.attempt) == (
        S.REJECTED,
        None,
        S.ERROR,
        None,
    )
    assert first.settled_statically and second.settled_statically
    assert second.stage_message == "bad YAML on line 3" and not second.is_infrastructure_error
    assert enqueued == []
    quota = services.submission_quota(learner=first.learner)
    assert (quota.used, quota.left, quota.next_free_at) == (0, 1, None)
    grader.static = make_result(7, mode="static")
    assert submit().attempt is None and enqueued  # the one real attempt of this window
    grader.full = make_result(7)
    services.submission_grade(submission_id=enqueued[0], task_id="t")
    assert Submission.objects.get(pk=enqueued[0]).attempt == 1


@override_settings(DRYDOCK_SUBMISSION_RATE="1/600")
def test_settled_submissions_have_their_own_generous_cap(submit, grader):
    from exercises.services.quota import STATIC_FACTOR

    grader.static = make_result(status=Status.ERROR, mode="static", error="bad YAML")
    for _ in range(STATIC_FACTOR):
        submit()
    with pytest.raises(services.SubmissionRateLimited) as caught:
        submit()
    assert str(caught.value).startswith(
        f"You have reached the limit of {STATIC_FACTOR} submissions"
    )
    grader.static = make_result(7, mode="static")
    assert submit().status == S.QUEUED  # the attempts are untouched


def test_an_internal_error_of_the_static_grader_is_left_to_the_worker(submit, grader, enqueued):
    grader.static = make_result(
        status=Status.ERROR, mode="static", error=real_grader.UNEXPECTED.format(kind="KeyError"),
        internal=True,
    )  # fmt: skip
    submission = submit()
    assert (
        submission.status == S.QUEUED
        and submission.static_result is None
        and enqueued == [submission.pk]
    )
    grader.static = InfrastructureError("hadolint is missing")
    assert submit().status == S.QUEUED


def test_real_static_grading_of_both_set_ups_is_fast(
    learner, exercise, enqueued, django_capture_on_commit_callbacks
):
    import time

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        reference = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
        development = services.submission_create(
            learner=learner, exercise=exercise, files=DEVELOPMENT
        )
    assert time.monotonic() - started < 2.0
    assert reference.static_result["status"] == "passed" and reference.static_result["score"] == 100
    assert (
        development.static_result["status"] == "failed" and development.static_result["score"] == 0
    )


def test_broker_down_keeps_the_submission_and_flags_it_delayed(submit, monkeypatch):
    import kombu.exceptions

    from exercises.tasks import grade_submission

    def refuse(*args, **kwargs):
        raise kombu.exceptions.OperationalError(
            "Error 111 connecting to 127.0.0.1:6379. Connection refused."
        )

    monkeypatch.setattr(grade_submission, "apply_async", refuse)
    submission = submit()
    submission.refresh_from_db()
    assert submission.status == S.QUEUED and submission.grading_delayed
    assert submission.enqueued_at is None and submission.stage_message == services.GRADING_DELAYED


# Rate limit -------------------------------------------------------------------------------------


@override_settings(DRYDOCK_SUBMISSION_RATE="2/600")
def test_rate_limit_says_when_the_learner_can_submit_again(submit, learner):
    first = submit()
    submit()
    with pytest.raises(services.SubmissionRateLimited) as caught:
        submit()
    retry_at = first.created_at + timedelta(seconds=600)
    assert abs((caught.value.retry_at - retry_at).total_seconds()) < 1
    message = str(caught.value)
    assert message.startswith(
        "You have reached the limit of 2 submissions in 10 minutes. You can submit again at "
    )
    assert retry_at.strftime("%H:%M") in message and "(in 10 minutes)" in message


@override_settings(DRYDOCK_SUBMISSION_RATE="1/600")
def test_drydock_faults_and_old_submissions_do_not_count(submit):
    first = submit()
    Submission.objects.filter(pk=first.pk).update(is_infrastructure_error=True, status=S.ERROR)
    second = submit()
    Submission.objects.filter(pk=second.pk).update(
        created_at=timezone.now() - timedelta(seconds=601)
    )
    submit()  # neither earlier submission counts any more


# Grading in the worker ----------------------------------------------------------------------------


def test_grade_stores_the_result_counts_the_attempt_and_records_checks(submit, grader):
    submission = submit()
    grader.full = make_result(5)
    assert services.submission_grade(submission_id=submission.pk, task_id="t-1") == "failed"
    submission.refresh_from_db()
    assert (submission.status, submission.attempt, submission.checks_passed, submission.score) == (
        S.FAILED,
        1,
        5,
        71,
    )
    assert submission.result["mode"] == "full" and "Successfully built" in submission.log
    assert submission.started_at <= submission.finished_at and submission.grading_attempts == 1
    assert SubmissionCheck.objects.filter(submission=submission, passed=True).count() == 5
    assert (
        services.submission_grade(submission_id=submission.pk, task_id="t-1") == "skipped"
    )  # idempotent


def test_a_run_in_progress_is_never_started_a_second_time_unless_it_is_dead(submit):
    submission = submit()
    Submission.objects.filter(pk=submission.pk).update(
        status=S.BUILDING, task_id="first", deadline_at=timezone.now() + timedelta(minutes=5)
    )
    assert services.submission_grade(submission_id=submission.pk, task_id="second") == "skipped"
    Submission.objects.filter(pk=submission.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.submission_grade(submission_id=submission.pk, task_id="second") == "passed"


def test_a_redelivered_task_resumes_its_grading_and_removes_the_dead_jobs_leftovers(
    submit, grader, monkeypatch
):
    """Its worker died mid-build: Celery redelivers the same task id, and the grading resumes
    at once (not when the deadline passes), after removing what the dead job left on the engine."""
    removed = []
    monkeypatch.setattr(lifecycle.sandbox, "janitor", lambda **kw: removed.append(kw) or {})
    submission = submit()
    Submission.objects.filter(pk=submission.pk).update(
        status=S.BUILDING, task_id="t", job_id="deadjob", grading_attempts=1,
        deadline_at=timezone.now() + timedelta(minutes=10),
    )  # fmt: skip
    assert services.submission_grade(submission_id=submission.pk, task_id="t") == "passed"
    submission.refresh_from_db()
    assert (submission.status, submission.attempt, submission.grading_attempts) == (S.PASSED, 1, 2)
    assert removed == [{"job_id": "deadjob"}] * 2 and submission.job_id not in ("", "deadjob")
    assert grader.calls[-1]["runtime"] and grader.calls[-1]["job_id"] == submission.job_id


def test_a_task_whose_worker_keeps_dying_ends_as_drydocks_fault(submit, grader, settings):
    submission = submit()
    limit = settings.DRYDOCK_GRADING_MAX_RETRIES + 1 + lifecycle.WORKER_LOST_REDELIVERIES
    Submission.objects.filter(pk=submission.pk).update(
        status=S.BUILDING, task_id="t", grading_attempts=limit,
        deadline_at=timezone.now() + timedelta(minutes=10),
    )  # fmt: skip
    assert services.submission_grade(submission_id=submission.pk, task_id="t") == "worker-lost"
    submission.refresh_from_db()
    assert (submission.status, submission.is_infrastructure_error, submission.attempt) == (
        S.ERROR, True, None,
    )  # fmt: skip
    assert submission.stage_message == services.INFRA_WORKER_LOST


def test_the_worker_runs_the_stored_static_pass_and_never_analyses_again(submit, grader):
    submission = submit()
    assert submission.job_spec == {"job_id": "scripted", "log": "compose warnings\n"}
    services.submission_grade(submission_id=submission.pk, task_id="t")
    assert [(c["static_only"], c["runtime"]) for c in grader.calls] == [
        (True, False),
        (False, True),
    ]
    assert grader.calls[1]["spec"] == submission.job_spec
    assert grader.calls[1]["files"] == {n: t.encode() for n, t in REFERENCE.items()}
    submission.refresh_from_db()
    assert submission.status == S.PASSED and submission.result["mode"] == "full"


@override_settings(DRYDOCK_GRADING_STATIC_ONLY=True)
def test_in_static_only_mode_the_worker_stores_the_static_result_as_it_is(submit, grader):
    submission = submit()
    services.submission_grade(submission_id=submission.pk, task_id="t")
    submission.refresh_from_db()
    assert len(grader.calls) == 1 and submission.result == submission.static_result
    assert submission.status == S.PASSED and submission.log == "compose warnings\n"


def test_a_regrade_grades_the_files_again_with_todays_rules(submit, grader, staff):
    submission = submit()
    services.submission_grade(submission_id=submission.pk, task_id="t")
    submission.refresh_from_db()
    assert services.submission_regrade(submission=submission, by=staff)
    services.submission_grade(submission_id=submission.pk, task_id="t2")
    assert [(c["static_only"], c["runtime"]) for c in grader.calls][-1] == (False, False)


def test_progress_is_written_to_the_row_throttled_and_fenced(submit, grader):
    submission = submit()
    seen = []

    def grade(progress):
        progress(Stage.CHECKING, "checking your files", "")
        progress(Stage.BUILDING, "building your image", "Step 1/9\n")
        progress(Stage.BUILDING, "building your image", "Step 2/9\n")  # throttled: < 0.5 s
        seen.append(Submission.objects.values_list("status", "log").get(pk=submission.pk))
        Submission.objects.filter(pk=submission.pk).update(task_id="somebody-else")
        progress(Stage.RUNNING, "starting app", "")
        seen.append(Submission.objects.values_list("status", flat=True).get(pk=submission.pk))
        return make_result()

    grader.full = grade
    assert services.submission_grade(submission_id=submission.pk, task_id="mine") == "passed"
    assert seen == [(S.BUILDING, "Step 1/9\n"), S.BUILDING]  # the superseded run writes nothing
    submission.refresh_from_db()
    assert submission.status == S.BUILDING and submission.result is None  # nor its result


def test_an_infrastructure_fault_goes_back_to_queued_for_a_retry_without_counting(submit, grader):
    submission = submit()
    grader.full = InfrastructureError("engine unreachable: connection refused")
    with pytest.raises(InfrastructureError):
        services.submission_grade(submission_id=submission.pk, task_id="t", retry=0, retries=5)
    submission.refresh_from_db()
    assert (
        submission.status == S.QUEUED and submission.grading_delayed and submission.attempt is None
    )
    assert submission.stage_message == services.GRADING_RETRYING.format(retry=1, retries=5)
    assert submission.enqueued_at is not None  # a retry is scheduled: the janitor leaves it alone
    assert "connection refused" in submission.internal_error

    # the last retry does not raise: the submission waits for the janitor to re-enqueue it
    assert (
        services.submission_grade(submission_id=submission.pk, task_id="t", retry=5, retries=5)
        == "delayed"
    )
    submission.refresh_from_db()
    assert submission.status == S.QUEUED and submission.enqueued_at is None
    assert submission.stage_message == services.GRADING_DELAYED

    grader.full = make_result()
    assert services.submission_grade(submission_id=submission.pk, task_id="t") == "passed"
    submission.refresh_from_db()
    assert (
        submission.attempt == 1
        and not submission.grading_delayed
        and submission.grading_attempts == 3
    )


@pytest.mark.parametrize(
    ("fault", "message", "raises"),
    [
        (SoftTimeLimitExceeded(), services.INFRA_TIMEOUT, False),
        (RuntimeError("boom"), services.INFRA_ERROR, True),
        (
            make_result(
                status=Status.ERROR,
                error=real_grader.UNEXPECTED.format(kind="KeyError"),
                internal=True,
            ),  # fmt: skip
            services.INFRA_ERROR,
            False,
        ),
    ],
)
def test_drydock_own_faults_end_as_errors_that_are_not_attempts(
    submit, grader, fault, message, raises
):
    submission = submit()
    grader.full = fault
    if raises:
        with pytest.raises(RuntimeError):
            services.submission_grade(submission_id=submission.pk, task_id="t")
    else:
        services.submission_grade(submission_id=submission.pk, task_id="t")
    submission.refresh_from_db()
    assert (submission.status, submission.is_infrastructure_error, submission.attempt) == (
        S.ERROR,
        True,
        None,
    )
    assert submission.stage_message == message


def test_a_learner_error_in_the_full_grading_counts(submit, grader):
    submission = submit()
    grader.full = make_result(status=Status.ERROR, error="docker-compose.yml: bad indentation")
    assert services.submission_grade(submission_id=submission.pk, task_id="t") == "error"
    submission.refresh_from_db()
    assert (submission.status, submission.is_infrastructure_error, submission.attempt) == (
        S.ERROR,
        False,
        1,
    )


def test_attempt_numbers_skip_drydock_faults(submit, grader):
    grader.full = InfrastructureError("down")
    lost = submit()
    services.submission_grade(submission_id=lost.pk, task_id="t", retry=1, retries=1)
    Submission.objects.filter(pk=lost.pk).update(status=S.ERROR, is_infrastructure_error=True)
    grader.full = make_result()
    first, second = submit(), submit()
    services.submission_grade(submission_id=second.pk, task_id="b")
    services.submission_grade(submission_id=first.pk, task_id="a")
    attempts = dict(Submission.objects.values_list("pk", "attempt"))
    assert attempts == {
        lost.pk: None,
        second.pk: 1,
        first.pk: 2,
    }  # numbered in the order they finish


# Regrade and janitor ------------------------------------------------------------------------------


def test_regrade_reruns_a_finished_submission_in_place(
    submit, grader, enqueued, django_capture_on_commit_callbacks
):
    submission = submit()
    services.submission_grade(submission_id=submission.pk, task_id="t")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.submission_regrade(submission=submission)
    submission.refresh_from_db()
    assert (submission.status, submission.result, submission.attempt, submission.regrade_count) == (
        S.QUEUED,
        None,
        1,
        1,
    )
    assert not submission.check_outcomes.exists() and enqueued == [submission.pk, submission.pk]
    grader.full = make_result(6)
    services.submission_grade(submission_id=submission.pk, task_id="t2")
    submission.refresh_from_db()
    assert (submission.status, submission.attempt, submission.checks_passed) == (S.FAILED, 1, 6)
    Submission.objects.filter(pk=submission.pk).update(status=S.RUNNING)
    assert not services.submission_regrade(submission=submission)  # never beside a running grading


def test_janitor_ends_stuck_gradings_and_requeues_orphans(submit, enqueued, monkeypatch):
    monkeypatch.setattr(services.sandbox, "janitor", lambda **kw: {"containers": 2})
    now = timezone.now()
    stuck, alive, delayed, lost, fresh, expired = (submit() for _ in range(6))
    Submission.objects.filter(pk=stuck.pk).update(
        status=S.BUILDING, deadline_at=now - timedelta(seconds=1)
    )
    Submission.objects.filter(pk=alive.pk).update(
        status=S.RUNNING, deadline_at=now + timedelta(minutes=5)
    )
    Submission.objects.filter(pk=delayed.pk).update(enqueued_at=None, grading_delayed=True)
    Submission.objects.filter(pk=lost.pk).update(enqueued_at=now - timedelta(hours=1))
    Submission.objects.filter(pk=expired.pk).update(created_at=now - timedelta(days=1))
    enqueued.clear()

    report = services.submissions_janitor(now=now)

    assert report == {"engine": {"containers": 2}, "stuck": 1, "expired": 1, "requeued": 2}
    assert sorted(enqueued) == sorted([delayed.pk, lost.pk])
    states = {
        s.pk: (s.status, s.is_infrastructure_error, s.stage_message)
        for s in Submission.objects.all()
    }
    assert states[stuck.pk] == (S.ERROR, True, services.INFRA_STUCK)
    assert states[expired.pk] == (S.ERROR, True, services.INFRA_EXPIRED)
    assert states[alive.pk][0] == S.RUNNING and states[fresh.pk][0] == S.QUEUED


def test_janitor_survives_an_unreachable_engine(submit, monkeypatch, enqueued):
    def down(**kwargs):
        raise InfrastructureError("engine unreachable")

    monkeypatch.setattr(services.sandbox, "janitor", down)
    assert services.submissions_janitor()["engine"] == {"errors": ["engine unreachable"]}


def test_a_busy_database_does_not_lose_a_finished_grading(submit, monkeypatch):
    from django.db import OperationalError

    submission = submit()
    real, calls = lifecycle._store_result, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "_store_result", flaky)
    monkeypatch.setattr(lifecycle.time, "sleep", lambda seconds: None)
    assert services.submission_grade(submission_id=submission.pk, task_id="t") == "passed"
    submission.refresh_from_db()
    assert submission.status == S.PASSED and len(calls) == 2
