"""The lecture as content: every part present, nothing empty, loading idempotent and edit-safe."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from course.models import Lesson, Section

EXPECTED_LESSONS = [
    "introduction", "architecture-patterns", "best-practices", "production-images",
    "networking-and-persistence", "real-world-example", "security", "practical-exercise",
    "conclusion",
]  # fmt: skip


@pytest.mark.django_db
def test_lecture_loads_as_nine_lessons_with_non_empty_sections(lecture):
    lessons = list(Lesson.objects.filter(module__course=lecture))
    assert [lesson.slug for lesson in lessons] == EXPECTED_LESSONS
    for lesson in lessons:
        sections = list(lesson.sections.all())
        assert sections, lesson.slug
        for section in sections:
            assert len(section.body_html) > 80, f"{lesson.slug}/{section.slug} is (nearly) empty"


@pytest.mark.django_db
def test_lost_lists_were_restored(lecture):
    text = "\n".join(Section.objects.values_list("body", flat=True))
    for heading in (
        "Pros",
        "Cons",
        "Benefits",
        "Optimization techniques",
        "Explanation",
        "Key takeaways",
    ):
        assert heading in text
    bullets_after = {
        ("architecture-patterns", "single-host-deployment"): "Pros",
        ("real-world-example", "lessons-learned"): "-",
        ("conclusion", "additional-resources"): "https://",
    }
    for (lesson, section), marker in bullets_after.items():
        body = Section.objects.get(lesson__slug=lesson, slug=section).body
        assert marker in body
        assert "\n- " in body or "\n* " in body, f"{lesson}/{section} has no list"


@pytest.mark.django_db
def test_practical_exercise_links_to_the_exercise(lecture):
    section = Section.objects.get(lesson__slug="practical-exercise", slug="exercise-brief")
    assert 'href="/exercises/docker-production/"' in section.body_html


@pytest.mark.django_db
def test_load_course_is_idempotent_and_keeps_instructor_edits(lecture, capsys):
    count = Section.objects.count()
    call_command("load_course")
    assert Section.objects.count() == count
    assert "0 created, 0 updated" in capsys.readouterr().out

    edited = Section.objects.get(lesson__slug="introduction", slug="from-development-to-production")
    edited.body = "An instructor's rewrite."
    edited.save()
    call_command("load_course")
    out = capsys.readouterr().out
    assert "kept instructor edits in 1: introduction/from-development-to-production" in out
    assert Section.objects.get(pk=edited.pk).body == "An instructor's rewrite."
