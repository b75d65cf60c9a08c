"""Read-side queries for exercise pages."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from course.models import Lesson

from .models import ChecklistItem, Exercise


def exercise_get(*, slug: str) -> Exercise | None:
    return Exercise.objects.filter(slug=slug, published=True).prefetch_related("checklist").first()


def checklist_links(items: list[ChecklistItem]) -> dict[str, str]:
    """Map each check id to the URL of the lecture section that teaches it (one query)."""
    lessons = {
        lesson.slug: lesson
        for lesson in Lesson.objects.published()
        .filter(slug__in={i.lesson_slug for i in items})
        .select_related("module__course")
    }
    links: dict[str, str] = {}
    for item in items:
        lesson = lessons.get(item.lesson_slug)
        if lesson is None:
            continue
        try:
            links[item.check_id] = f"{lesson.get_absolute_url()}#{item.section_slug}"
        except NoReverseMatch:
            continue
    return links


def exercise_lesson_url() -> str:
    """The lecture's Practical Exercise lesson, for the 'back to the lecture' link."""
    lesson = Lesson.objects.published().filter(slug="practical-exercise").select_related("module__course").first()
    return lesson.get_absolute_url() if lesson else reverse("course:home")
