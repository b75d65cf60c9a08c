"""Site-wide page furniture: favicon, branded error pages, the course home's exercise link."""

from __future__ import annotations

import pytest

from exercises.models import Exercise, Submission

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")


def test_an_unknown_page_is_a_branded_404_with_a_way_back(client, lecture):
    response = client.get("/courses/docker-in-production/no-such-lesson/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Back to the course" in page and 'href="/"' in page
    assert 'action="/search/"' in page


def test_the_500_page_renders_without_a_request_or_database():
    from django.template.loader import render_to_string

    page = render_to_string("500.html")
    assert "Something went wrong" in page and 'href="/"' in page


def test_lesson_pages_open_with_their_h1(client, lecture):
    page = client.get("/courses/docker-in-production/security/").content.decode()
    assert page.index("<h1") < page.index("<h2")


def _exercise() -> Exercise:
    return Exercise.objects.create(
        slug="ex", title="Ship it", summary="Harden a stack.", instructions="Do it."
    )


def test_course_home_links_to_the_exercise(client, lecture):
    _exercise()
    page = client.get("/courses/docker-in-production/").content.decode()
    assert 'href="/exercises/ex/"' in page and "Start the exercise" in page


def test_course_home_shows_the_learners_best_result(client, lecture, learner):
    exercise = _exercise()
    for attempt, (status, score) in enumerate([("failed", 40), ("passed", 100), ("failed", 70)], 1):
        Submission.objects.create(
            learner=learner, exercise=exercise, attempt=attempt, status=status, score=score
        )
    best = Submission.objects.get(score=100)
    client.force_login(learner)
    page = client.get("/courses/docker-in-production/").content.decode()
    assert f'href="{best.get_absolute_url()}"' in page
    assert "100/100" in page and "3 graded attempts" in page


def test_a_forbidden_page_is_branded_with_a_way_back(rf, learner):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    request = rf.get("/exercises/staff/")
    request.user = learner
    response = permission_denied(request, PermissionDenied())
    page = response.content.decode()
    assert response.status_code == 403
    assert "You can’t open this page" in page and "Back to the course" in page
