"""Learner pages: course home, lessons, anchors, previous/next, progress, admin preview."""

from __future__ import annotations

import pytest

from course.models import Section, SectionProgress

pytestmark = pytest.mark.django_db


def test_home_redirects_to_the_only_course_which_lists_its_lessons(client, lecture):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/courses/docker-in-production/"
    page = response.content.decode()
    assert "Production Docker Architecture Patterns" in page
    assert "Sign up" in page  # anonymous visitors are invited to keep progress


def test_lesson_page_has_sections_anchors_toc_and_pager(client, lecture):
    page = client.get("/courses/docker-in-production/architecture-patterns/").content.decode()
    for slug in ("single-host-deployment", "clustered-deployment", "hybrid-architecture"):
        assert f'<section id="{slug}"' in page
        assert f'href="#{slug}"' in page  # table of contents + heading anchor
    assert 'rel="prev" href="/courses/docker-in-production/introduction/"' in page
    assert 'rel="next" href="/courses/docker-in-production/best-practices/"' in page
    assert page.count('<pre class="mermaid">') == 3
    assert "mermaid.min.js" in page


def test_first_and_last_lessons_have_one_sided_pager(client, lecture):
    first = client.get("/courses/docker-in-production/introduction/").content.decode()
    last = client.get("/courses/docker-in-production/conclusion/").content.decode()
    assert 'rel="prev"' not in first and 'rel="next"' in first
    assert 'rel="next"' not in last and 'rel="prev"' in last


def test_unpublished_lessons_and_unknown_slugs_are_404(client, lecture):
    assert client.get("/courses/docker-in-production/nope/").status_code == 404
    from course.models import Lesson

    Lesson.objects.filter(slug="security").update(published=False)
    assert client.get("/courses/docker-in-production/security/").status_code == 404


def test_lesson_page_query_count_does_not_grow_with_sections(
    client, tiny_course, learner, django_assert_max_num_queries
):
    client.force_login(learner)
    lesson_sections = Section.objects.filter(lesson__slug="l1")
    with django_assert_max_num_queries(8) as few:
        client.get("/courses/c/l1/")
    for extra in range(10):
        Section.objects.create(
            lesson=lesson_sections[0].lesson,
            slug=f"x{extra}",
            title="X",
            body="x",
            order=10 + extra,
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/courses/c/l1/")


def test_signed_in_learner_marks_a_section_complete_with_htmx(client, tiny_course, learner):
    client.force_login(learner)
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    response = client.post(
        f"/sections/{section.id}/complete/", {"completed": "1"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "✓ Completed" in body
    assert 'id="lesson-progress" hx-swap-oob="true"' in body
    assert "1 of 2 sections · 50%" in body
    assert SectionProgress.objects.filter(user=learner, section=section).exists()

    page = client.get("/courses/c/l1/").content.decode()
    assert "1 of 2 sections" in page
    home = client.get("/courses/c/").content.decode()
    assert "1 of 2 sections" in home

    client.post(f"/sections/{section.id}/complete/", {"completed": "0"}, HTTP_HX_REQUEST="true")
    assert not SectionProgress.objects.filter(user=learner).exists()


def test_progress_form_works_without_javascript(client, tiny_course, learner):
    client.force_login(learner)
    section = Section.objects.get(lesson__slug="l2", slug="s2")
    response = client.post(f"/sections/{section.id}/complete/", {"completed": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/courses/c/l2/#s2"


def test_anonymous_visitor_reads_but_keeps_no_progress(client, tiny_course):
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    assert client.get("/courses/c/l1/").status_code == 200
    assert "Mark section complete" not in client.get("/courses/c/l1/").content.decode()
    response = client.post(f"/sections/{section.id}/complete/", {"completed": "1"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not SectionProgress.objects.exists()


def test_progress_endpoint_requires_post_and_csrf(tiny_course, learner):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(learner)
    section = Section.objects.first()
    assert strict.get(f"/sections/{section.id}/complete/").status_code == 405
    assert strict.post(f"/sections/{section.id}/complete/", {"completed": "1"}).status_code == 403


def test_signup_login_logout(client, tiny_course):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a-Long-pass-42",
            "password2": "a-Long-pass-42",
            "next": "/courses/c/l2/",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/courses/c/l2/"
    assert "newbie" in client.get("/courses/c/").content.decode()
    client.post("/accounts/logout/")
    assert "newbie" not in client.get("/courses/c/").content.decode()
    assert client.login(username="newbie", password="a-Long-pass-42")


def test_signup_ignores_offsite_next(client, db):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "x1",
            "password1": "a-Long-pass-42",
            "password2": "a-Long-pass-42",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/"


def test_admin_preview_renders_markdown_with_diagrams_for_staff_only(client, staff, learner):
    markdown = "# T\n\n```mermaid\ngraph TD\n  A --> B\n```\n\n<script>x()</script>"
    client.force_login(learner)
    assert client.post("/admin/course/section/preview/", {"markdown": markdown}).status_code == 302
    client.force_login(staff)
    response = client.post("/admin/course/section/preview/", {"field": "body", "body": markdown})
    body = response.content.decode()
    assert response.status_code == 200
    assert '<pre class="mermaid">' in body and "1 diagram" in body
    assert "<script" not in body


def test_admin_section_editor_has_live_preview_and_edits_change_the_lesson(
    client, staff, tiny_course
):
    client.force_login(staff)
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    page = client.get(f"/admin/course/section/{section.id}/change/").content.decode()
    assert "admin-preview.js" in page and 'data-url="/admin/course/section/preview/"' in page
    response = client.post(
        f"/admin/course/section/{section.id}/change/",
        {
            "lesson": section.lesson_id,
            "slug": "s1",
            "title": "Renamed",
            "body": "Fresh *words*",
            "order": 1,
            "published": "on",
        },
    )
    assert response.status_code == 302
    lesson_page = client.get("/courses/c/l1/").content.decode()
    assert "Renamed" in lesson_page and "<em>words</em>" in lesson_page


def test_the_progress_bar_is_one_query_and_counts_only_this_learners_steps(
    tiny_course, learner, django_user_model, django_assert_num_queries
):
    from course import selectors, services

    lesson = tiny_course.modules.get().lessons.get(slug="l1")
    other = django_user_model.objects.create_user(username="other", password="pw-other-123")
    first, second = lesson.sections.order_by("order")
    services.section_set_complete(user=learner, section=first, completed=True)
    for section in (first, second):
        services.section_set_complete(user=other, section=section, completed=True)
    with django_assert_num_queries(1):
        progress = selectors.lesson_progress(lesson=lesson, user=learner)
    assert (progress.done, progress.total, progress.percent) == (1, 2, 50)
    course, modules = selectors.course_outline(slug="c", user=learner)
    assert [lesson.progress.done for lesson in modules[0].lessons.all()] == [1, 0]
