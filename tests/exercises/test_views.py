"""Learner pages: the exercise page and its form, the result page and its polling, history and diff."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from exercises import services, views
from exercises.models import Submission

from .conftest import DEVELOPMENT, REFERENCE, make_result

pytestmark = pytest.mark.django_db
URL = "/exercises/docker-production/"


def post(client, data: dict | None = None, **extra):
    payload = {
        "dockerfile": REFERENCE["Dockerfile"],
        "compose": REFERENCE["docker-compose.yml"],
        **(data or {}),
    }
    return client.post(URL, payload, **extra)


# The exercise page -------------------------------------------------------------------------------


def test_anonymous_visitors_see_the_exercise_and_are_invited_to_sign_in(client, exercise):
    page = client.get(URL).content.decode()
    assert exercise.title in page and "Download the starter project" in page
    assert page.count('class="checklist"') == 1 and page.count('id="check-') == 7
    assert 'href="/accounts/login/?next=/exercises/docker-production/%23submit"' in page
    assert "submission-form" not in page
    assert 'hx-get="/exercises/health/"' in page  # the banner loads without blocking the page


def test_the_lecture_links_to_the_exercise_page(client, lecture):
    page = client.get("/courses/docker-in-production/practical-exercise/").content.decode()
    assert 'href="/exercises/docker-production/"' in page


def test_signed_in_learners_get_the_form_with_editors_and_previews(client, learner, exercise):
    client.force_login(learner)
    page = client.get(URL).content.decode()
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page
    for field in ("dockerfile", "compose", "dockerignore"):
        assert f'hx-post="/exercises/preview/{field}/"' in page and f'id="preview-{field}"' in page
    assert 'name="extra_files"' in page and "multiple" in page
    assert "js/submission.js" in page


def test_anonymous_posts_go_to_the_login_page(client, exercise):
    response = post(client)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert not Submission.objects.exists()


def test_posting_without_a_csrf_token_is_refused(learner, exercise, grader, enqueued):
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    assert post(client).status_code == 403
    assert not Submission.objects.exists()


def test_a_submission_shows_the_static_checklist_right_away(
    client, learner, exercise, enqueued, django_capture_on_commit_callbacks
):
    client.force_login(learner)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client)
    submission = Submission.objects.get()
    assert response.status_code == 302 and response["Location"] == submission.get_absolute_url()
    assert enqueued == [submission.pk]
    page = client.get(response["Location"]).content.decode()
    assert "Instant checks of your files" in page and "7/7</strong> checks pass" in page
    assert page.count('id="static-result-') == 7
    assert f'hx-get="{submission.get_absolute_url()}"' in page and 'hx-trigger="every 1s"' in page
    assert 'href="/courses/docker-in-production/' in page  # each check links to its lesson section


def test_uploads_take_the_place_of_the_editors_and_extra_files_are_kept(
    client, learner, exercise, grader, enqueued
):
    client.force_login(learner)
    response = client.post(URL, {
        "dockerfile": "", "compose": "",
        "dockerfile_upload": SimpleUploadedFile("Dockerfile", REFERENCE["Dockerfile"].encode()),
        "compose_upload": SimpleUploadedFile("compose.yaml", REFERENCE["docker-compose.yml"].encode()),
        "dockerignore": "node_modules\r\n.git\r\n",
        "extra_files": [SimpleUploadedFile("app.conf", b"port=3000\n"), SimpleUploadedFile("notes.md", b"# notes\n")],
    })  # fmt: skip
    assert response.status_code == 302
    files = Submission.objects.get().files
    assert files == {
        **REFERENCE,
        ".dockerignore": "node_modules\n.git\n",
        "app.conf": "port=3000\n",
        "notes.md": "# notes\n",
    }


def test_a_rejected_form_keeps_everything_the_learner_typed_and_uploaded(
    client, learner, exercise, grader, enqueued
):
    client.force_login(learner)
    big = "# padding\n" * 30_000
    response = client.post(URL, {
        "dockerfile": REFERENCE["Dockerfile"] + big,
        "compose": "",
        "compose_upload": SimpleUploadedFile("docker-compose.yml", REFERENCE["docker-compose.yml"].encode()),
        "dockerignore": "node_modules\n",
        "extra_files": [SimpleUploadedFile("app.conf", b"port=3000\n"), SimpleUploadedFile("blob.bin", b"\xff\xfe\x00")],
    })  # fmt: skip
    assert response.status_code == 422
    page = response.content.decode()
    assert services.FILE_TOO_LARGE.format(name="Dockerfile", size=294) in page
    assert services.FILE_NOT_UTF8.format(name="blob.bin") in page
    form = response.context["form"]
    assert form["dockerfile"].value() == REFERENCE["Dockerfile"] + big  # what they typed
    assert form["compose"].value() == REFERENCE["docker-compose.yml"]  # what they uploaded
    assert form["dockerignore"].value() == "node_modules\n"
    assert form.kept == {"app.conf": "port=3000\n"}  # the valid extra file travels with the form
    assert 'name="kept_name" value="app.conf"' in page
    assert not Submission.objects.exists()

    # the next try sends the kept file back, without uploading it again
    response = client.post(URL, {
        "dockerfile": REFERENCE["Dockerfile"], "compose": REFERENCE["docker-compose.yml"],
        "kept_name": "app.conf", "kept_content": "port=3000\r\n",
    })  # fmt: skip
    assert response.status_code == 302
    assert Submission.objects.get().files["app.conf"] == "port=3000\n"


def test_missing_files_and_reserved_names_are_explained(client, learner, exercise, grader):
    client.force_login(learner)
    response = client.post(URL, {
        "dockerfile": "", "compose": "",
        "extra_files": [SimpleUploadedFile("Dockerfile", b"FROM x\n"), SimpleUploadedFile("bad name.txt", b"x")],
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 422
    assert services.FILE_REQUIRED.format(name="docker-compose.yml") in page
    assert services.FILE_RESERVED_NAME.format(name="Dockerfile") in page
    assert "“bad name.txt” is not an allowed file name" in page


def test_an_oversized_request_is_refused_before_it_is_read(client, learner, exercise, monkeypatch):
    client.force_login(learner)
    monkeypatch.setattr(views, "MAX_REQUEST_BYTES", 100)
    response = post(client)
    assert response.status_code == 413 and views.REQUEST_TOO_LARGE in response.content.decode()


@override_settings(DRYDOCK_SUBMISSION_RATE="2/600")
def test_the_rate_limit_keeps_the_input_and_says_when_to_come_back(
    client, learner, exercise, grader, enqueued
):
    client.force_login(learner)
    assert post(client).status_code == 302 and post(client).status_code == 302
    response = post(client, {"dockerfile": "FROM node:18-alpine\n# third\n"})
    page = response.content.decode()
    assert response.status_code == 429
    assert (
        "You have reached the limit of 2 submissions in 10 minutes. You can submit again at "
        in page
    )
    assert "# third" in page
    assert Submission.objects.count() == 2


def test_the_form_is_not_offered_for_an_unknown_exercise(client, learner):
    client.force_login(learner)
    response = client.get("/exercises/nope/")
    assert "coming soon" in response.content.decode()


# The result page ---------------------------------------------------------------------------------


def test_polling_returns_the_progress_fragment_then_stops_with_286(client, learner, submit, grader):
    submission = submit()
    client.force_login(learner)
    Submission.objects.filter(pk=submission.pk).update(
        status="building", stage_message="building your image", log="Step 3/9 : RUN npm ci\n"
    )
    response = client.get(submission.get_absolute_url(), HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert 'hx-trigger="every 1s"' in fragment and "Building the image" in fragment
    assert '<progress max="5" value="2"' in fragment and "Step 3/9 : RUN npm ci" in fragment

    Submission.objects.filter(pk=submission.pk).update(status="queued", task_id="")
    services.submission_grade(submission_id=submission.pk, task_id="t")
    response = client.get(submission.get_absolute_url(), HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 286
    assert "hx-trigger" not in fragment and 'hx-swap-oob="true"' in fragment
    assert "7/7</strong> checks passed" in fragment and fragment.count('id="result-') == 7


def test_the_final_page_shows_evidence_hints_notes_bonus_and_lesson_links(
    client, learner, submit, grader
):
    submission = submit()
    grader.full = make_result(5, notes=True)
    services.submission_grade(submission_id=submission.pk, task_id="t")
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "Attempt 1" in page and "5/7</strong> checks passed" in page
    # every problem of a failing check is visible at once: its evidence is open
    assert page.count('<details class="evidence">') == 5
    assert page.count('<details class="evidence" open>') == 2
    assert page.count('class="hint"') == 2
    assert "sandbox: ports dropped" in page and 'class="sandbox-notes"' in page
    assert "★ Multi-stage build" in page
    assert page.count("Read the lesson section that teaches this") == 7
    assert "Build and run log" in page


def test_hints_come_from_the_checklist_item_and_render_as_markdown(
    client, learner, submit, grader, exercise
):
    exercise.checklist.filter(check_id="tagging-strategy").update(
        hint="Tag the image with `${VERSION}`, never **latest**."
    )
    submission = submit()
    grader.full = make_result(5)
    services.submission_grade(submission_id=submission.pk, task_id="t")
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "<code>${VERSION}</code>" in page and "<strong>latest</strong>" in page
    assert (
        "hint for tagging-strategy" not in page and "`" not in page.split('class="hint"')[1][:300]
    )


def test_a_drydock_fault_is_shown_as_such_not_as_a_failed_check(client, learner, submit, grader):
    submission = submit()
    grader.full = RuntimeError("boom")
    with pytest.raises(RuntimeError):
        services.submission_grade(submission_id=submission.pk, task_id="t")
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert (
        "Not graded: a problem on Drydock's side" in page
        and services.INFRA_ERROR.replace("'", "&#x27;") in page
    )
    assert "boom" not in page  # internal details are for staff only
    assert "Drydock error" in client.get(URL).content.decode()


def test_a_delayed_submission_says_so(client, learner, submit):
    submission = submit()
    Submission.objects.filter(pk=submission.pk).update(
        grading_delayed=True, stage_message=services.GRADING_DELAYED
    )
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "Grading is delayed: Drydock&#x27;s grading service is unreachable right now." in page


def test_nobody_else_can_reach_a_submission(client, learner, submit, django_user_model):
    submission = submit()
    intruder = django_user_model.objects.create_user("intruder", password="pw-intruder-123")
    client.force_login(intruder)
    assert client.get(submission.get_absolute_url()).status_code == 404
    assert client.get(submission.get_absolute_url(), HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(f"/exercises/submissions/{uuid.uuid4()}/").status_code == 404
    assert (
        client.get(f"/exercises/submissions/{submission.pk}/").status_code == 404
    )  # ids are not guessable
    assert str(submission.public_id) not in client.get(URL).content.decode()
    client.logout()
    assert client.get(submission.get_absolute_url()).status_code == 302  # to the login page


# History and diff ---------------------------------------------------------------------------------------


def test_history_lists_own_attempts_and_compares_two(
    client, learner, submit, grader, django_user_model
):
    first = submit(DEVELOPMENT)
    grader.full = make_result(0)
    services.submission_grade(submission_id=first.pk, task_id="a")
    grader.full = make_result(7)
    second = submit({**REFERENCE, "app.conf": "x=<script>alert(1)</script>\n"})
    services.submission_grade(submission_id=second.pk, task_id="b")
    other = django_user_model.objects.create_user("other", password="pw-other-123")
    theirs = submit(user=other)
    client.force_login(learner)

    page = client.get(URL).content.decode()
    history = page[page.index('id="attempts"') :]
    assert (
        "Attempt 1" in history and "Attempt 2" in history and str(theirs.public_id) not in history
    )
    assert len(re.findall(r'name="old"', history)) == 2

    compare = f"/exercises/docker-production/compare/?old={first.public_id}&new={second.public_id}"
    page = client.get(compare).content.decode()
    assert re.search(r'<td class="ln">2</td><td class="del">.*?FROM node:18</td>', page)
    assert re.search(
        r'<td class="ln">2</td><td class="add">.*?FROM node:18-alpine AS builder</td>', page
    )
    assert "Checks that changed" in page and page.count('<li class="better">') == 7
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert 'class="badge diff-added"' in page
    assert (
        client.get(compare.replace(str(second.public_id), str(theirs.public_id))).status_code == 404
    )
    assert client.get(compare.replace(str(second.public_id), "not-a-uuid")).status_code == 404


# Editor preview and health banner ---------------------------------------------------------------------------


def test_the_preview_is_highlighted_and_escaped(client, learner):
    client.force_login(learner)
    response = client.post(
        "/exercises/preview/dockerfile/", {"dockerfile": "FROM node:18-alpine\n# <b>hi</b>\n"}
    )
    html = response.content.decode()
    assert (
        response.status_code == 200
        and 'class="highlight"' in html
        and "<b>hi" not in html
        and "&lt;b&gt;" in html
    )
    assert client.post("/exercises/preview/nope/", {}).status_code == 404
    assert client.get("/exercises/preview/dockerfile/").status_code == 405
    client.logout()
    assert client.post("/exercises/preview/dockerfile/", {}).status_code == 302


def test_the_banner_appears_only_when_grading_is_unavailable(client, monkeypatch):
    from exercises.selectors import health as selectors

    monkeypatch.setattr(selectors, "_broker_up", lambda: True)
    monkeypatch.setattr(selectors, "_workers", lambda: 1)
    monkeypatch.setattr(selectors, "_engine_up", lambda: True)
    assert "Grading is delayed" not in client.get("/exercises/health/").content.decode()
    selectors.cache.clear()
    monkeypatch.setattr(selectors, "_workers", lambda: 0)
    page = client.get("/exercises/health/").content.decode()
    assert "Grading is delayed" in page and "No grading worker is running." in page


# The learner's loop: pre-filled editors, attempts left ----------------------------------------


def _editor_text(page: str, field: str) -> str:
    import html

    match = re.search(rf'<textarea name="{field}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    return html.unescape(match.group(1)) if match else ""


def test_a_first_visit_starts_from_the_starter_and_the_next_from_the_last_attempt(
    client, learner, exercise, submit
):
    client.force_login(learner)
    page = client.get(URL).content.decode()
    assert _editor_text(page, "dockerfile") == DEVELOPMENT["Dockerfile"]
    assert "starter project&#x27;s development files" in page or "development files" in page
    first = submit({**REFERENCE, "config.json": "{}"})
    page = client.get(URL).content.decode()
    assert _editor_text(page, "dockerfile") == REFERENCE["Dockerfile"]
    assert _editor_text(page, "compose") == REFERENCE["docker-compose.yml"]
    assert 'name="kept_name" value="config.json"' in page
    second = submit(DEVELOPMENT)
    assert _editor_text(client.get(URL).content.decode(), "dockerfile") == DEVELOPMENT["Dockerfile"]
    page = client.get(f"{URL}?from={first.public_id}").content.decode()
    assert _editor_text(page, "dockerfile") == REFERENCE["Dockerfile"]
    result = client.get(second.get_absolute_url()).content.decode()
    assert f'href="{URL}?from={second.public_id}#submit"' in result


def test_someone_elses_attempt_is_never_prefilled(
    client, learner, exercise, submit, django_user_model
):
    other = django_user_model.objects.create_user("other", password="x-Long-pass-42")
    theirs = submit({**REFERENCE, "Dockerfile": "FROM secret\n"}, user=other)
    client.force_login(learner)
    page = client.get(f"{URL}?from={theirs.public_id}").content.decode()
    assert (
        "FROM secret" not in page and _editor_text(page, "dockerfile") == DEVELOPMENT["Dockerfile"]
    )


@override_settings(DRYDOCK_SUBMISSION_RATE="2/600")
def test_the_page_shows_attempts_left_and_static_errors_leave_them_alone(
    client, learner, exercise, submit, grader
):
    from exercises.grading.types import Status

    client.force_login(learner)
    assert "2 of 2</strong> attempts left" in client.get(URL).content.decode()
    grader.static = make_result(status=Status.ERROR, mode="static", error="not valid YAML")
    submit()
    grader.static = make_result(status=Status.REJECTED, mode="static")
    rejected = submit()
    page = client.get(URL).content.decode()
    assert "2 of 2</strong> attempts left" in page
    assert page[page.index('id="attempts"') :].count(">Not counted</a>") == 2
    result = client.get(rejected.get_absolute_url()).content.decode()
    assert "Submission (not counted)" in result and "does not count as an attempt" in result
    grader.static = make_result(7, mode="static")
    submit()
    page = client.get(URL).content.decode()
    assert "1 of 2</strong> attempts left" in page and "one more frees up at" in page


# Feedback while typing, and the result page's findings ------------------------------------------

YAML_ERROR_LINE = 34  # "    image: postgres:14-alpine" in the reference compose file


def _with_yaml_error(compose: str) -> str:
    lines = compose.splitlines()
    assert lines[YAML_ERROR_LINE - 1].strip() == "image: postgres:14-alpine"
    lines[YAML_ERROR_LINE - 1] += ": oops"
    return "\n".join(lines) + "\n"


def test_live_checks_put_a_yaml_error_on_its_line_and_store_nothing(client, learner, exercise):
    client.force_login(learner)
    url = f"{URL}check/"
    broken = _with_yaml_error(REFERENCE["docker-compose.yml"])
    data = client.post(url, {"dockerfile": REFERENCE["Dockerfile"], "compose": broken}).json()
    assert data["status"] == "error" and data["checks"] == []
    assert [(f["file"], f["line"]) for f in data["findings"]] == [
        ("docker-compose.yml", YAML_ERROR_LINE)
    ]
    fixed = client.post(
        url, {"dockerfile": REFERENCE["Dockerfile"], "compose": REFERENCE["docker-compose.yml"]}
    ).json()
    assert fixed["status"] == "passed" and fixed["passed"] == 7
    assert all(f["severity"] != "error" for f in fixed["findings"])
    assert not Submission.objects.exists()


def test_live_checks_need_a_learner_and_are_limited(client, learner, exercise, monkeypatch):
    from exercises.services import live

    assert client.post(f"{URL}check/", {"dockerfile": "FROM x"}).status_code == 302
    client.force_login(learner)
    monkeypatch.setattr(live, "LIVE_CHECK_LIMIT", 1)
    assert client.post(f"{URL}check/", {"dockerfile": "FROM x"}).status_code == 200
    limited = client.post(f"{URL}check/", {"dockerfile": "FROM x"})
    assert limited.status_code == 429 and limited.json()["error"] == live.LIVE_CHECK_PAUSED


def test_a_yaml_error_shows_an_excerpt_with_a_caret_and_no_wall_of_unchecked_rows(
    client, learner, exercise, enqueued, django_capture_on_commit_callbacks
):
    files = {**REFERENCE, "docker-compose.yml": _with_yaml_error(REFERENCE["docker-compose.yml"])}
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(learner=learner, exercise=exercise, files=files)
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "not valid YAML" in page and 'class="caret"' in page
    assert f"  {YAML_ERROR_LINE} |     image: postgres:14-alpine: oops" in page
    assert "Not checked:" not in page and "Graded in" not in page
    assert f'id="docker-composeyml-L{YAML_ERROR_LINE}"' in page  # the file, line-numbered
    assert f'class="line-error" id="docker-composeyml-L{YAML_ERROR_LINE}"' in page
    assert "<title>Error · Submission" in page


def test_a_pending_result_page_refreshes_itself_without_javascript(client, learner, submit):
    submission = submit()
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert (
        'id="grading-announcer"' in page
        and 'role="status"' not in page.split('id="grading-status"')[1]
    )
    services.submission_grade(submission_id=submission.pk, task_id="t")
    page = client.get(submission.get_absolute_url()).content.decode()
    assert 'http-equiv="refresh"' not in page and "<title>Passed 7/7 · Attempt 1" in page


def test_every_aria_describedby_points_at_an_element_of_the_page(client, learner, exercise):
    client.force_login(learner)
    page = client.get(URL).content.decode()
    described = re.findall(r'aria-describedby="([^"]+)"', page)
    assert described
    for ids in described:
        for target in ids.split():
            assert f'id="{target}"' in page, target


def _zip(members: dict[str, tuple[bytes, int]]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (content, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def test_a_zip_upload_replaces_the_editors_and_keeps_executable_scripts_executable(
    client, learner, exercise, grader, enqueued
):
    client.force_login(learner)
    archive = _zip({
        "project/Dockerfile": (REFERENCE["Dockerfile"].encode(), 0o100644),
        "project/docker-compose.yml": (REFERENCE["docker-compose.yml"].encode(), 0o100644),
        "project/docker-entrypoint.sh": (b"#!/bin/sh\nexec \"$@\"\n", 0o100755),
        "__MACOSX/project/._Dockerfile": (b"junk", 0o100644),
    })  # fmt: skip
    response = client.post(URL, {
        "dockerfile": "", "compose": "",
        "archive": SimpleUploadedFile("project.zip", archive, "application/zip"),
    })  # fmt: skip
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert set(submission.files) == {"Dockerfile", "docker-compose.yml", "docker-entrypoint.sh"}
    assert submission.executables == ["docker-entrypoint.sh"]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"link": (b"/etc/passwd", 0o120777)}, "is a symbolic link"),
        ({"big.txt": (b"x" * (300 * 1024), 0o100644)}, "larger than 256 KiB"),
        ({f"f{i}.txt": (b"x", 0o100644) for i in range(20)}, "At most 16 files"),
    ],
)
def test_a_zip_that_cannot_be_graded_is_explained(
    client, learner, exercise, grader, enqueued, members, message
):
    client.force_login(learner)
    response = client.post(URL, {
        "dockerfile": "", "compose": "",
        "archive": SimpleUploadedFile("project.zip", _zip(members), "application/zip"),
    })  # fmt: skip
    assert response.status_code in (200, 422)
    assert message in response.content.decode()
    assert not Submission.objects.exists()


def test_not_a_zip_is_explained(client, learner, exercise, grader, enqueued):
    client.force_login(learner)
    response = client.post(URL, {
        "dockerfile": "", "compose": "",
        "archive": SimpleUploadedFile("project.zip", b"not a zip", "application/zip"),
    })  # fmt: skip
    assert "not a .zip archive" in response.content.decode()


def test_without_an_instructor_hint_the_graders_hint_is_shown(
    client, learner, submit, grader, exercise
):
    exercise.checklist.update(hint="")
    submission = submit()
    grader.full = make_result(5)
    services.submission_grade(submission_id=submission.pk, task_id="t")
    client.force_login(learner)
    page = client.get(submission.get_absolute_url()).content.decode()
    failed = [row.check_id for row in exercise.checklist.all()][5:]
    assert page.count('class="hint"') == 2
    for check_id in failed:
        assert f"hint for {check_id}" in page


def _attempts(learner, exercise, count: int, start: int = 1) -> None:
    Submission.objects.bulk_create(
        Submission(
            learner=learner,
            exercise=exercise,
            attempt=number,
            status=Submission.Status.FAILED,
            score=50,
            checks_passed=4,
            files=REFERENCE,
        )  # fmt: skip
        for number in range(start, start + count)
    )


def test_the_exercise_page_lists_recent_attempts_in_constant_queries(
    client, learner, exercise, django_assert_max_num_queries
):
    _attempts(learner, exercise, 2)
    client.force_login(learner)
    with django_assert_max_num_queries(8) as few:
        page = client.get(exercise.get_absolute_url()).content.decode()
    assert page.count("<td><a href=") == 2 and "All your attempts" not in page
    _attempts(learner, exercise, 40, start=3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(exercise.get_absolute_url()).content.decode()
    assert page.count("<td><a href=") == 5 and "Attempt 42" in page and "Attempt 37" not in page
    assert 'href="/exercises/docker-production/attempts/"' in page


def test_the_attempts_page_lists_them_all_a_page_at_a_time(
    client, learner, exercise, django_user_model
):
    _attempts(learner, exercise, 30)
    other = django_user_model.objects.create_user(username="other", password="pw-other-123")
    _attempts(other, exercise, 3, start=100)
    url = "/exercises/docker-production/attempts/"
    assert "/accounts/login/" in client.get(url)["Location"]
    client.force_login(learner)
    first = client.get(url).content.decode()
    assert (
        first.count("<td><a href=") == 25 and "Attempt 30" in first and "Attempt 100" not in first
    )
    assert 'href="?page=2"' in first and "Compare the selected attempts" in first
    second = client.get(url + "?page=2").content.decode()
    assert second.count("<td><a href=") == 5 and "Attempt 1<" in second
    assert client.get("/exercises/nope/attempts/").status_code == 404


def test_the_anonymous_exercise_page_is_shared_and_learners_query_only_their_own_rows(
    client, learner, exercise, django_assert_num_queries
):
    first = Client().get(exercise.get_absolute_url())
    assert "csrfmiddlewaretoken" not in first.content.decode()
    assert "public" in first["Cache-Control"]
    with django_assert_num_queries(0):
        assert Client().get(exercise.get_absolute_url()).content == first.content
    client.force_login(learner)
    client.get(exercise.get_absolute_url())
    # the user, their latest files, their recent attempts, their quota: nothing shared
    with django_assert_num_queries(4):
        page = client.get(exercise.get_absolute_url()).content.decode()
    assert "csrfmiddlewaretoken" in page and "The checklist" in page
    soon = Client().get("/exercises/not-yet/")
    assert "coming soon" in soon.content.decode() and "private" in soon["Cache-Control"]
