"""An instructor's save (admin, `load_course`, `load_exercises`) makes cached pages stale."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from .page_cache import content_version_bump

# What an anonymous lesson or course page shows: the course's content and the exercise cards.
CONTENT_MODELS = (
    "course.Course", "course.Module", "course.Lesson", "course.Section", "course.Question",
    "course.Choice", "exercises.Exercise", "exercises.ChecklistItem",
)  # fmt: skip


def _content_changed(sender, **kwargs) -> None:
    content_version_bump()


def connect() -> None:
    for model in CONTENT_MODELS:
        post_save.connect(_content_changed, sender=model, dispatch_uid=f"page-cache-save-{model}")
        post_delete.connect(
            _content_changed, sender=model, dispatch_uid=f"page-cache-delete-{model}"
        )
