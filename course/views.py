"""Learner pages. Views stay thin: selectors read, services write."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from . import page_cache, selectors, services
from .models import Question, Section


def home(request):
    courses = selectors.course_list()
    if len(courses) == 1:
        return redirect(courses[0])
    return render(request, "course/home.html", {"courses": courses})


def course_detail(request, course: str):
    if page_cache.is_shared(request):
        return page_cache.shared_page(request, lambda: _course_page(request, course))
    return _course_page(request, course)


def _course_page(request, course: str):
    course_obj, modules = selectors.course_outline(slug=course, user=request.user)
    exercises = selectors.exercise_cards(user=request.user)
    return render(
        request,
        "course/course.html",
        {"course": course_obj, "modules": modules, "exercises": exercises},
    )


def lesson_detail(request, course: str, lesson: str):
    """Anonymous visitors share one cached page; a learner's shows their progress."""
    if page_cache.is_shared(request):
        return page_cache.shared_page(request, lambda: _lesson_page(request, course, lesson))
    return _lesson_page(request, course, lesson)


def _lesson_page(request, course: str, lesson: str):
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


@require_POST
@login_required
def question_answer(request, question_id: int):
    """Grade an answer; htmx gets the question's form with the explanation and the progress bar."""
    question = get_object_or_404(
        Question.objects.published().select_related("lesson__module__course", "section"),
        pk=question_id,
    )
    choice_ids = [int(value) for value in request.POST.getlist("choice") if value.isdigit()]
    context = {"question": question, "chosen": set(choice_ids), "oob": True}
    try:
        context["answer"] = services.question_answer(
            user=request.user, question=question, choice_ids=choice_ids
        )
    except services.KnowledgeCheckError as exc:
        context["error"] = str(exc)
        if not request.htmx:
            messages.error(request, context["error"])
    if not request.htmx:
        return redirect(f"{question.lesson.get_absolute_url()}#check-{question.slug}")
    context["progress"] = selectors.lesson_progress(lesson=question.lesson, user=request.user)
    return render(request, "course/_knowledge_check_form.html", context)
