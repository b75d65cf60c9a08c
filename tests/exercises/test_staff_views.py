"""Instructor pages: staff only, filters, pass-rate chart, regrade, CSV export; and the admin."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from exercises import services
from exercises.models import Submission

from .conftest import DEVELOPMENT, make_result

pytestmark = pytest.mark.django_db
DASHBOARD = "/exercises/staff/"


@pytest.fixture
def graded(submit, grader, django_user_model):
    """Three learners' submissions: 7/7, 3/7, and one still queued."""
    ada = django_user_model.objects.create_user(
        "ada", email="ada@example.com", password="pw-ada-12345"
    )
    bob = django_user_model.objects.create_user(
        "+bob", password="pw-bob-12345"
    )  # a formula-looking name
    passed = submit(user=ada)
    services.submission_grade(submission_id=passed.pk, task_id="a")
    grader.full = make_result(3)
    failed = submit(DEVELOPMENT, user=bob)
    services.submission_grade(submission_id=failed.pk, task_id="b")
    queued = submit()
    return passed, failed, queued


@pytest.mark.parametrize("url", [DASHBOARD, "/exercises/staff/grades.csv"])
def test_only_staff_reach_the_dashboard(client, learner, url):
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(learner)
    assert client.get(url).status_code == 403
    assert client.post("/exercises/staff/regrade/", {}).status_code == 403


def test_dashboard_lists_filters_and_charts_pass_rates(client, staff, graded):
    passed, failed, queued = graded
    client.force_login(staff)
    page = client.get(DASHBOARD).content.decode()
    assert page.count('name="submission"') == 3 and "+bob" in page and "ada" in page
    assert 'class="bar-fill" style="width: 100%"' in page  # the first three checks: both passed
    assert 'class="bar-fill" style="width: 50%"' in page  # the others: 1 of 2
    assert "(1/2 learners)" in page

    page = client.get(DASHBOARD, {"status": "failed"}).content.decode()
    assert page.count('name="submission"') == 1 and str(failed.public_id) in page
    page = client.get(
        DASHBOARD, {"learner": "ad", "exercise": "docker-production"}
    ).content.decode()
    assert page.count('name="submission"') == 1 and str(passed.public_id) in page
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert (
        client.get(DASHBOARD, {"date_from": tomorrow}).content.decode().count('name="submission"')
        == 0
    )


def test_staff_regrade_one_or_many(
    client, staff, graded, enqueued, django_capture_on_commit_callbacks
):
    passed, failed, queued = graded
    client.force_login(staff)
    Submission.objects.filter(pk=queued.pk).update(status="running")
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/exercises/staff/regrade/",
            {
                "submission": [passed.public_id, failed.public_id, queued.public_id, "junk"],
                "next": "/exercises/staff/?status=failed",
            },
            follow=True,
        )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/exercises/staff/?status=failed"
    assert (
        "2 submission(s) queued for regrading." in page
        and "1 submission(s) are being graded right now" in page
    )
    assert sorted(enqueued) == sorted([passed.pk, failed.pk])
    assert Submission.objects.get(pk=passed.pk).status == "queued"


def test_csv_export_of_grades(client, staff, graded):
    passed, failed, queued = graded
    client.force_login(staff)
    response = client.get("/exercises/staff/grades.csv")
    assert (
        response["Content-Type"].startswith("text/csv")
        and "attachment" in response["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    by_learner = {row["learner"]: row for row in rows if row["status"] != "queued"}
    assert by_learner["ada"]["checks_passed"] == "7" and by_learner["ada"]["score"] == "100"
    assert (
        by_learner["ada"]["email"] == "ada@example.com"
        and by_learner["ada"]["non-root-user"] == "pass"
    )
    assert by_learner["'+bob"]["tagging-strategy"] == "fail"  # formula-safe

    best = b"".join(
        client.get("/exercises/staff/grades.csv", {"best": "1"}).streaming_content
    ).decode()
    assert len(best.strip().splitlines()) == 3  # header + one per learner with a counted attempt


def test_staff_can_open_any_result_page(client, staff, graded):
    passed, _, queued = graded
    client.force_login(staff)
    page = client.get(f"/exercises/staff/submissions/{passed.public_id}/").content.decode()
    assert "ada" in page and "7/7</strong> checks passed" in page
    fragment = client.get(
        f"/exercises/staff/submissions/{queued.public_id}/", HTTP_HX_REQUEST="true"
    )
    assert f'hx-get="/exercises/staff/submissions/{queued.public_id}/"' in fragment.content.decode()


# Admin -------------------------------------------------------------------------------------------


def test_admin_shows_submissions_read_only_with_pretty_json_and_log(client, staff, graded):
    passed, failed, _ = graded
    client.force_login(staff)
    listing = client.get("/admin/exercises/submission/?status__exact=failed").content.decode()
    assert "+bob" in listing and "ada" not in listing.split("result_list")[1]
    page = client.get(f"/admin/exercises/submission/{passed.pk}/change/").content.decode()
    assert '<pre class="result-json"' in page and "&quot;status&quot;: &quot;passed&quot;" in page
    assert "Successfully built" in page and 'name="status"' not in page  # read-only
    assert client.get("/admin/exercises/submission/add/").status_code == 403


def test_admin_regrade_action(client, staff, graded, enqueued, django_capture_on_commit_callbacks):
    passed, failed, _ = graded
    client.force_login(staff)
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/exercises/submission/",
            {"action": "regrade", "_selected_action": [passed.pk, failed.pk]},
            follow=True,
        )
    assert "2 submission(s) queued for regrading." in response.content.decode()
    assert sorted(enqueued) == sorted([passed.pk, failed.pk])


def test_pass_rates_count_learners_by_best_attempt_and_show_the_rest_apart(
    client, staff, graded, submit, grader
):
    from exercises.grading.types import Status

    passed, failed, queued = graded
    ada = passed.learner
    grader.full = make_result(0)
    worse = submit(user=ada)  # a later, worse attempt: ada's best stays 7/7
    services.submission_grade(submission_id=worse.pk, task_id="w")
    grader.static = make_result(status=Status.REJECTED, mode="static")
    submit(user=ada)
    grader.static = make_result(status=Status.ERROR, mode="static", error="bad YAML")
    submit(user=ada)
    client.force_login(staff)
    page = client.get(DASHBOARD).content.decode()
    assert page.count('class="bar-fill" style="width: 100%"') == 3  # 2 learners, not 3 attempts
    assert "(1/2 learners)" in page
    assert "2 learners with a graded attempt among the 6 submissions shown" in page
    assert "1 rejected</span>" in page and "1 with files that could not be graded" in page
    assert 'id="select-all"' in page and "js/staff.js" in page


def test_a_regrade_keeps_every_previous_grading_and_shows_what_changed(
    client, staff, graded, grader, enqueued, django_capture_on_commit_callbacks
):
    passed, failed, queued = graded
    client.force_login(staff)
    grader.full = make_result(5)
    for round_ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/exercises/staff/regrade/", {"submission": [failed.public_id]})
        services.submission_grade(submission_id=failed.pk, task_id=f"r{round_}")
    failed.refresh_from_db()
    assert [g.number for g in failed.gradings.all()] == [1, 2]
    first, second = failed.gradings.all()
    assert (first.checks_passed, first.requested_by, first.superseded_by) == (3, None, staff)
    assert (second.checks_passed, second.requested_by) == (5, staff)
    page = client.get(f"/exercises/staff/submissions/{failed.public_id}/").content.decode()
    assert "Gradings of this submission" in page and "the learner" in page
    assert "score" in page and "now passes" in page and "(current)" in page
