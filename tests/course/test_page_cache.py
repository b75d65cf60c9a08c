"""Anonymous pages are shared and cacheable; an instructor's save shows at once; learners' own."""

from __future__ import annotations

import pytest
from django.test import Client

from course.models import Lesson, Section
from exercises.models import ChecklistItem, Exercise

pytestmark = pytest.mark.django_db

LESSON = "/courses/c/l1/"


def test_an_anonymous_lesson_page_holds_no_token_and_may_be_kept_by_a_proxy(client, tiny_course):
    response = client.get(LESSON)
    page = response.content.decode()
    assert response.status_code == 200 and "Body 1.1" in page
    assert "csrfmiddlewaretoken" not in page and "X-CSRFToken" not in page
    assert "csrftoken" not in response.cookies and "sessionid" not in response.cookies
    assert "public" in response["Cache-Control"] and "max-age=60" in response["Cache-Control"]
    assert "Cookie" in response["Vary"] and response["ETag"]


def test_the_second_visitor_gets_the_same_page_without_a_query(
    tiny_course, django_assert_num_queries
):
    first = Client().get(LESSON)
    with django_assert_num_queries(0):
        second = Client().get(LESSON)
    assert second.content == first.content and second["ETag"] == first["ETag"]
    assert second["X-Frame-Options"] == "DENY" and "public" in second["Cache-Control"]


def test_another_worker_sees_a_save_once_it_checks_the_version_again(
    client, tiny_course, monkeypatch
):
    from django.core.cache import cache

    from course import page_cache

    assert "Lesson 1" in client.get(LESSON).content.decode()
    # another worker's save: the version in Redis moves, this worker's copy does not know yet
    Section.objects.filter(lesson__slug="l1", slug="s1").update(body_html="<p>Updated</p>")
    cache.incr(page_cache.VERSION_KEY)
    monkeypatch.setattr(page_cache, "VERSION_CHECK_S", 0)
    assert "Updated" in client.get(LESSON).content.decode()


def test_a_browser_holding_the_page_is_told_it_has_not_changed(client, tiny_course):
    etag = client.get(LESSON)["ETag"]
    again = client.get(LESSON, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""


def test_an_instructors_save_shows_on_the_next_anonymous_visit(client, tiny_course):
    assert "Body 1.1" in client.get(LESSON).content.decode()
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    section.body = "A *corrected* explanation."
    section.save()
    page = client.get(LESSON).content.decode()
    assert "<em>corrected</em>" in page and "Body 1.1" not in page
    lesson = Lesson.objects.get(slug="l1")
    lesson.title = "Lesson One, renamed"
    lesson.save()
    assert "Lesson One, renamed" in client.get(LESSON).content.decode()
    section.delete()
    assert "corrected" not in client.get(LESSON).content.decode()


def test_saving_an_exercise_or_its_checklist_refreshes_the_course_page(client, tiny_course):
    exercise = Exercise.objects.create(slug="ex", title="Ship it", summary="First", published=True)
    assert "Ship it" in client.get("/courses/c/").content.decode()
    exercise.title = "Ship it well"
    exercise.save()
    assert "Ship it well" in client.get("/courses/c/").content.decode()
    from course.page_cache import content_version

    before = content_version()
    ChecklistItem.objects.create(exercise=exercise, check_id="tagging-strategy", title="X", order=1)
    assert content_version() != before


def test_a_learner_gets_their_own_page_never_the_shared_one(client, tiny_course, learner):
    Client().get(LESSON)  # the shared page is cached
    client.force_login(learner)
    response = client.get(LESSON)
    page = response.content.decode()
    assert "Mark section complete" in page and "learner" in page
    assert "public" not in response.get("Cache-Control", "")
    client.post("/accounts/logout/")
    assert "Mark section complete" not in client.get(LESSON).content.decode()


def test_htmx_posts_carry_the_token_from_the_cookie(tiny_course, learner):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(learner)
    strict.get(LESSON)  # a signed-in page sets the CSRF cookie (its logout form)
    token = strict.cookies["csrftoken"].value
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    url = f"/sections/{section.id}/complete/"
    assert strict.post(url, {"completed": "1"}, HTTP_HX_REQUEST="true").status_code == 403
    response = strict.post(url, {"completed": "1"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and "✓ Completed" in response.content.decode()


def test_the_page_script_reads_the_token_from_the_cookie(client, tiny_course):
    page = client.get(LESSON).content.decode()
    assert "js/csrf.js" in page
    script = client.get("/static/js/csrf.js")
    body = b"".join(script.streaming_content).decode()
    assert "htmx:configRequest" in body and "csrftoken" in body and "X-CSRFToken" in body


def test_a_learners_lesson_page_queries_only_their_own_rows_and_shares_nothing_of_theirs(
    client, tiny_course, learner, django_user_model, django_assert_num_queries
):
    from course import services
    from course.models import Choice, Question

    section = Section.objects.get(lesson__slug="l1", slug="s1")
    question = Question.objects.create(
        lesson=section.lesson, slug="q", prompt="Why?", explanation="Because.", section=section
    )
    right = Choice.objects.create(question=question, text="Right", correct=True, order=1)
    Choice.objects.create(question=question, text="Wrong", order=2)
    services.question_answer(user=learner, question=question, choice_ids=[right.id])
    client.force_login(learner)
    client.get(LESSON)
    # the user, their answers, their completed sections: the lesson itself is cached
    with django_assert_num_queries(3):
        page = client.get(LESSON).content.decode()
    assert "1 of 1 questions" in page and "✓ Correct" in page
    other = Client()
    other.force_login(django_user_model.objects.create_user(username="o", password="pw-o-12345"))
    theirs = other.get(LESSON).content.decode()
    assert "0 of 1 questions" in theirs and "✓ Correct" not in theirs
