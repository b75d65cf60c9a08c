"""Learner pages. Views stay thin: selectors read, services write."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .models import Section


def home(request):
    courses = selectors.course_list()
    if len(courses) == 1:
        return redirect(courses[0])
    return render(request, "course/home.html", {"courses": courses})


def course_detail(request, course: str):
    course_obj, modules = selectors.course_outline(slug=course, user=request.user)
    exercises = selectors.exercise_cards(user=request.user)
    return render(
        request,
        "course/course.html",
        {"course": course_obj, "modules": modules, "exercises": exercises},
    )


def lesson_detail(request, course: str, lesson: str):
    page = selectors.lesson_page(course_slug=course, lesson_slug=lesson, user=request.user)
    return render(request, "course/lesson.html", {"page": page})


@require_POST
@login_required
def section_complete(request, section_id: int):
    """Toggle a section's completion; htmx gets the button and the progress bar back."""
    section = get_object_or_404(Section.objects.published().select_related("lesson"), pk=section_id)
    completed = request.POST.get("completed", "1") == "1"
    services.section_set_complete(user=request.user, section=section, completed=completed)
    if not request.htmx:
        return redirect(section.get_absolute_url())
    progress = selectors.lesson_progress(lesson=section.lesson, user=request.user)
    return render(
        request,
        "course/_section_complete.html",
        {"section": section, "done": completed, "progress": progress, "oob": True},
    )
