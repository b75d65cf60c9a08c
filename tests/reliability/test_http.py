"""Bad input at the HTTP edge, through the real views, forms, services and static grader:
oversized and malformed requests, wrong encodings, missing fields, requests without CSRF
tokens, other learners' ids, and SQL/HTML/JS payloads in file contents and names, which
every page shows escaped (learner pages, the instructor dashboard, the admin) or not at all.
Nothing here may answer 500."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from exercises import services
from exercises.models import Submission

from .figures import FIGURES
from .support import DC, DF, REFERENCE, app_lines

URL = "/exercises/docker-production/"
SQL = "'); DROP TABLE exercises_submission; --"
# Each payload carries a unique word so that its raw and escaped forms can be told apart.
XSS = {
    "dockerfile-comment": '<script>alert("xss-df")</script>',
    "dockerfile-instruction": '<svg/onload=alert("xss-in")>',
    "compose-bind": '<img src=x onerror=alert("xss-bind")>',
    "compose-image": "<script>alert('xss-image')</script>",
    "extra-content": '<iframe src="javascript:alert(`xss-extra`)">',
    "file-name": '"><img src=x onerror=alert("xss-name")>',
}


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.DRYDOCK_SUBMISSION_RATE = "100/600"


@pytest.fixture
def exercise(db, lecture):
    return services.exercise_load(slug="docker-production")


def form(dockerfile: str = REFERENCE[DF], compose: str = REFERENCE[DC], **extra) -> dict:
    return {"dockerfile": dockerfile, "compose": compose, "dockerignore": "", **extra}


def no_raw_payload(page: str, where: str) -> int:
    """Asserts that no payload appears unescaped; returns how many appear escaped."""
    for name, payload in XSS.items():
        assert payload not in page, f"{name} is rendered unescaped on {where}"
        tag = re.search(r"<(\w+)", payload).group(1)
        word = re.search(r"xss-\w+", payload).group()
        raw = re.compile(rf"<{tag}[^>]*{word}", re.I)
        assert not raw.search(page), f"{name} opens a live <{tag}> on {where}"
    return sum(escape(payload) in page for payload in XSS.values())


def submit(client, data) -> tuple[int, Submission | None]:
    before = set(Submission.objects.values_list("pk", flat=True))
    response = client.post(URL, data)
    created = Submission.objects.exclude(pk__in=before).first()
    return response.status_code, created


def test_payloads_in_contents_and_names_are_escaped_everywhere(
    client, learner, staff, exercise, django_user_model
):
    client.force_login(learner)
    dockerfile = REFERENCE[DF].replace(
        "# Production Dockerfile", f"# Production Dockerfile {XSS['dockerfile-comment']} {SQL}"
    )
    cases = {
        "passed": form(dockerfile=dockerfile, extra_files=[SimpleUploadedFile(
            "notes.txt", f"{XSS['extra-content']}\n{SQL}\n".encode())]),
        "error": form(dockerfile=dockerfile + f"\n{XSS['dockerfile-instruction']}\n"),
        "rejected": form(compose=app_lines(
            REFERENCE[DC], f"volumes: ['/srv/{XSS['compose-bind']}:/x']")),
        "compose-image": form(compose=REFERENCE[DC].replace(
            "image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}",
            f'image: "{XSS["compose-image"]}"')),
    }  # fmt: skip
    made: dict[str, Submission] = {}
    for name, data in cases.items():
        status, created = submit(client, data)
        assert status == 302 and created is not None, (name, status)
        made[name] = created
    statuses = {k: v.static_result["status"] for k, v in made.items()}
    # an image name that is no image reference is refused before anything runs (issue 10)
    assert statuses == {"passed": "passed", "error": "error", "rejected": "rejected",
                        "compose-image": "rejected"}, statuses  # fmt: skip
    status, created = submit(client, form(extra_files=[SimpleUploadedFile(XSS["file-name"], b"x")]))
    assert status == 422 and created is None
    named_page = client.post(URL, form(extra_files=[SimpleUploadedFile(XSS["file-name"], b"x")]))
    escaped = {"form with a bad file name": no_raw_payload(named_page.content.decode(), "the form")}

    compare = reverse("exercises:compare", kwargs={"slug": "docker-production"})
    pages = {
        "exercise page": URL,
        **{f"{k} result page": v.get_absolute_url() for k, v in made.items()},
        "compare page": f"{compare}?old={made['error'].public_id}&new={made['passed'].public_id}",
    }
    for where, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, where
        escaped[where] = no_raw_payload(response.content.decode(), where)
        fragment = client.get(url, HTTP_HX_REQUEST="true")
        assert fragment.status_code in (200, 286), where
        no_raw_payload(fragment.content.decode(), f"{where} (htmx)")

    client.force_login(staff)
    admin_change = reverse("admin:exercises_submission_change", args=[made["passed"].pk])
    staff_pages = {
        "instructor dashboard": reverse("exercises:staff-dashboard"),
        "dashboard searched with SQL": reverse("exercises:staff-dashboard") + f"?learner={SQL}",
        "dashboard searched with a payload": reverse("exercises:staff-dashboard")
        + f"?learner={XSS['file-name']}",
        **{f"staff {k} page": reverse("exercises:staff-submission", kwargs={"public_id": v.public_id})
           for k, v in made.items()},
        "admin list": reverse("admin:exercises_submission_changelist"),
        "admin list searched with SQL": reverse("admin:exercises_submission_changelist") + f"?q={SQL}",
        "admin change page": admin_change,
        **{f"admin {k} change page": reverse("admin:exercises_submission_change", args=[v.pk])
           for k, v in made.items()},
        "grades CSV": reverse("exercises:staff-export"),
    }  # fmt: skip
    for where, url in staff_pages.items():
        response = client.get(url)
        assert response.status_code == 200, (where, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        escaped[where] = no_raw_payload(body.decode(), where)
    assert escaped["admin change page"] >= 2  # the files really are shown, escaped
    assert escaped["compare page"] >= 1 and escaped["rejected result page"] >= 1
    assert Submission.objects.count() == len(made)  # the SQL did nothing
    shown = sum(1 for count in escaped.values() if count)
    FIGURES.line(f"http payloads: {len(XSS)} HTML/JS payloads and an SQL payload in contents and "
                 f"names: never rendered raw on {len(escaped)} pages (shown escaped on {shown}), "
                 f"SQL inert")  # fmt: skip


def test_other_learners_ids_are_not_found(client, learner, exercise, django_user_model):
    client.force_login(learner)
    status, mine = submit(client, form())
    assert status == 302
    intruder = django_user_model.objects.create_user("intruder-rel", password="pw-intruder-123")
    client.force_login(intruder)
    _, theirs = submit(client, form())
    compare = reverse("exercises:compare", kwargs={"slug": "docker-production"})
    checks = {
        mine.get_absolute_url(): 404,
        f"{compare}?old={theirs.public_id}&new={mine.public_id}": 404,
        f"{compare}?old={mine.public_id}&new={mine.public_id}": 404,
        f"/exercises/submissions/{mine.pk}/": 404,
        f"/exercises/submissions/{uuid.uuid4()}/": 404,
        reverse("exercises:staff-submission", kwargs={"public_id": mine.public_id}): 403,
        reverse("exercises:staff-dashboard"): 403,
        reverse("exercises:staff-export"): 403,
        reverse("admin:exercises_submission_change", args=[mine.pk]): 302,  # to the admin login
    }
    seen = {url: client.get(url).status_code for url in checks}
    seen[mine.get_absolute_url() + " (htmx)"] = client.get(
        mine.get_absolute_url(), HTTP_HX_REQUEST="true").status_code  # fmt: skip
    checks[mine.get_absolute_url() + " (htmx)"] = 404
    regrade = client.post(reverse("exercises:staff-regrade"), {"submission": [mine.public_id]})
    seen["regrade POST"], checks["regrade POST"] = regrade.status_code, 403
    assert seen == checks
    assert str(mine.public_id) not in client.get(URL).content.decode()
    FIGURES.line(f"http other learners: {len(checks)} requests for another learner's submission "
                 "answered 404/403, never its content")  # fmt: skip


def test_requests_without_a_csrf_token_are_refused(learner, staff, exercise):
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    refused = {
        "submission": client.post(URL, form()).status_code,
        "preview": client.post(
            reverse("exercises:preview", kwargs={"field": "dockerfile"}), {"dockerfile": "FROM x"}
        ).status_code,  # fmt: skip
        "logout": client.post("/accounts/logout/").status_code,
    }
    client.force_login(staff)
    refused["regrade"] = client.post(
        reverse("exercises:staff-regrade"), {"submission": []}
    ).status_code
    refused["admin action"] = client.post(
        reverse("admin:exercises_submission_changelist"), {"action": "regrade"}).status_code  # fmt: skip
    assert refused == dict.fromkeys(refused, 403)
    assert not Submission.objects.exists()
    FIGURES.line(f"http csrf: {len(refused)} POSTs without a CSRF token refused with 403")


@pytest.mark.parametrize(
    ("case", "data", "status", "message"),
    [
        ("missing-everything", {}, 422, services.FILE_REQUIRED.format(name="Dockerfile")),
        ("missing-compose", {"dockerfile": REFERENCE[DF]}, 422,
         services.FILE_REQUIRED.format(name="docker-compose.yml")),
        ("blank-editors", form(dockerfile="   \n", compose="\t"), 422,
         services.FILE_REQUIRED.format(name="Dockerfile")),
        ("latin-1", {"dockerfile_upload": SimpleUploadedFile("Dockerfile", "FROM caf\xe9".encode("latin-1")),
                     "compose": REFERENCE[DC]}, 422, "is not UTF-8 text"),
        ("utf-16", {"compose_upload": SimpleUploadedFile("c.yml", REFERENCE[DC].encode("utf-16")),
                    "dockerfile": REFERENCE[DF]}, 422, "is not UTF-8 text"),
        ("nul-byte", form(extra_files=[SimpleUploadedFile("a.txt", b"a\x00b")]), 422, "NUL byte"),
        ("too-large-file", form(dockerfile="#" * (300 * 1024)), 422, "the limit is 256 KiB per file"),
        ("too-many-files", form(extra_files=[SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(17)]),
         422, "At most 16 files can be submitted"),
        ("path-in-kept-name", form(kept_name="../../etc/cron.d/x", kept_content="* * * * * root id"),
         422, "is not an allowed file name"),
        ("upload-path-stripped", form(extra_files=[SimpleUploadedFile("../../etc/x", b"x")]), 302, None),
        ("reserved-name", form(extra_files=[SimpleUploadedFile("Dockerfile", b"FROM x")]), 422,
         "has its own field"),
        ("utf-8-bom", {"dockerfile_upload": SimpleUploadedFile("Dockerfile", b"\xef\xbb\xbf" + REFERENCE[DF].encode()),
                       "compose": REFERENCE[DC]}, 302, None),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else "",
)  # fmt: skip
def test_bad_forms_are_explained_never_500(client, learner, exercise, case, data, status, message):
    client.force_login(learner)
    response = client.post(URL, data)
    assert response.status_code == status, (case, response.status_code)
    if message:
        assert message in response.content.decode().replace("&#x27;", "'"), case
    assert Submission.objects.count() == (1 if status == 302 else 0)


def test_malformed_requests_are_client_errors(client, learner, exercise, settings):
    client.force_login(learner)
    big = "x" * (5 * 1024 * 1024)
    answers = {
        "oversized": client.post(URL, {"dockerfile": big, "compose": REFERENCE[DC]}).status_code,
        "broken multipart": client.generic(
            "POST", URL, b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb",
            content_type="multipart/form-data; boundary=xyz").status_code,
        "no boundary": client.generic(
            "POST", URL, b"a=b", content_type="multipart/form-data").status_code,
        "too many fields": client.post(
            URL, "&".join(f"kept_name={i}" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5)),
            content_type="application/x-www-form-urlencoded").status_code,
        "GET on a POST-only view": client.get(
            reverse("exercises:preview", kwargs={"field": "dockerfile"})).status_code,
        "unknown editor": client.post(reverse("exercises:preview", kwargs={"field": "x"})).status_code,
        "invalid uuid": client.get("/exercises/submissions/not-a-uuid/").status_code,
        "compare without ids": client.get(
            reverse("exercises:compare", kwargs={"slug": "docker-production"})).status_code,
        "compare with junk ids": client.get(
            reverse("exercises:compare", kwargs={"slug": "docker-production"}) + "?old='&new=%00").status_code,
    }  # fmt: skip
    assert answers["oversized"] == 413
    assert all(400 <= code < 500 for code in answers.values()), answers
    assert not Submission.objects.exists()
    FIGURES.line(f"http malformed: {len(answers)} malformed requests answered 4xx "
                 f"({', '.join(sorted({str(c) for c in answers.values()}))}), never 500")  # fmt: skip
