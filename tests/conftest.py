"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.conf import settings

from course.models import Course, Lesson, Module, Section


@pytest.fixture
def lecture(db) -> Course:
    """The real lecture, loaded from course/content like `manage.py load_course` does."""
    from course.services import course_load

    course_load(directory=settings.COURSE_CONTENT_DIR / "docker-in-production")
    return Course.objects.get(slug="docker-in-production")


@pytest.fixture
def tiny_course(db) -> Course:
    """A two-lesson course built in code, for tests that need exact control."""
    course = Course.objects.create(slug="c", title="Course C")
    module = Module.objects.create(course=course, slug="m", title="Module M", order=1)
    for number in (1, 2):
        lesson = Lesson.objects.create(
            module=module, slug=f"l{number}", title=f"Lesson {number}", order=number
        )
        for part in (1, 2):
            Section.objects.create(
                lesson=lesson, slug=f"s{part}", title=f"Section {part}", order=part,
                body=f"Body {number}.{part}\n\n```bash\necho {number}\n```\n",
            )  # fmt: skip
    return course


@pytest.fixture
def learner(django_user_model):
    return django_user_model.objects.create_user(username="learner", password="pw-learner-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser(username="teacher", password="pw-teacher-123")
