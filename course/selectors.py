"""Read-side queries for course pages; each page runs a constant number of queries."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Course, Lesson, Module, Question, QuestionAnswer, Section, SectionProgress


@dataclass(frozen=True)
class Progress:
    """Sections completed plus knowledge-check questions answered right."""

    done: int
    total: int
    questions_done: int = 0
    questions_total: int = 0

    @property
    def steps_done(self) -> int:
        return self.done + self.questions_done

    @property
    def steps_total(self) -> int:
        return self.total + self.questions_total

    @property
    def percent(self) -> int:
        return round(100 * self.steps_done / self.steps_total) if self.steps_total else 0


def _completed_ids(user: AbstractBaseUser | AnonymousUser, sections) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(
        SectionProgress.objects.filter(user=user, section__in=sections).values_list(
            "section_id", flat=True
        )
    )


def course_list() -> list[Course]:
    return list(Course.objects.published())


def course_outline(
    *, slug: str, user: AbstractBaseUser | AnonymousUser
) -> tuple[Course, list[Module]]:
    """The course with its published modules and lessons, each lesson annotated with progress."""
    course = get_object_or_404(Course.objects.published(), slug=slug)
    lessons = Lesson.objects.published().annotate(
        **_progress_counts(user_id=getattr(user, "pk", None))
    )
    modules = list(
        course.modules.published().prefetch_related(Prefetch("lessons", queryset=lessons))
    )
    for module in modules:
        for lesson in module.lessons.all():
            signed_in = user.is_authenticated
            lesson.progress = Progress(
                lesson.done_count if signed_in else 0,
                lesson.section_count,
                lesson.right_count if signed_in else 0,
                lesson.question_count,
            )
    return course, modules


@dataclass
class LessonPage:
    course: Course
    lesson: Lesson
    sections: list[Section]
    completed: set[int]
    previous: Lesson | None
    next: Lesson | None
    questions: list[Question]
    answers: dict[int, QuestionAnswer]

    @property
    def progress(self) -> Progress:
        right = sum(answer.correct for answer in self.answers.values())
        return Progress(len(self.completed), len(self.sections), right, len(self.questions))


@dataclass(frozen=True)
class LessonContent:
    """What a lesson page shows everybody: cached per content version (page_cache)."""

    course: Course
    lesson: Lesson
    sections: list[Section]
    previous: Lesson | None
    next: Lesson | None
    questions: list[Question]


def lesson_content(*, course_slug: str, lesson_slug: str) -> LessonContent | None:
    """The published lesson, its sections, knowledge check and neighbours (None: no such)."""
    course = Course.objects.published().filter(slug=course_slug).first()
    if course is None:
        return None
    ordered = list(
        Lesson.objects.published()
        .filter(module__course=course, module__published=True)
        .select_related("module__course")
        .order_by("module__order", "order", "id")
    )
    index = next((i for i, item in enumerate(ordered) if item.slug == lesson_slug), None)
    if index is None:
        return None
    lesson = ordered[index]
    return LessonContent(
        course=course,
        lesson=lesson,
        sections=list(lesson.sections.published()),
        previous=ordered[index - 1] if index > 0 else None,
        next=ordered[index + 1] if index + 1 < len(ordered) else None,
        questions=lesson_questions(lesson=lesson),
    )


def lesson_page(*, course_slug: str, lesson_slug: str, user) -> LessonPage:
    """The lesson for `user`: the shared content (no query once cached) and their progress."""
    from .page_cache import shared_value

    content = shared_value(
        f"lesson:{course_slug}/{lesson_slug}",
        lambda: lesson_content(course_slug=course_slug, lesson_slug=lesson_slug),
    )
    if content is None:
        raise Http404("No such lesson")
    answers = question_answers(user=user, questions=content.questions)
    questions = []
    for shared in content.questions:  # copies: the cached objects are shared between requests
        question = copy.copy(shared)
        question.learner_answer = answers.get(question.id)
        question.learner_chosen = (
            set(question.learner_answer.choice_ids) if question.learner_answer else set()
        )
        questions.append(question)
    return LessonPage(
        course=content.course,
        lesson=content.lesson,
        sections=content.sections,
        completed=_completed_ids(user, content.sections),
        previous=content.previous,
        next=content.next,
        questions=questions,
        answers=answers,
    )


def lesson_questions(*, lesson: Lesson) -> list[Question]:
    """The lesson's published knowledge check, with choices and the sections they test."""
    return list(lesson.questions.published().select_related("section").prefetch_related("choices"))


def question_answers(*, user, questions) -> dict[int, QuestionAnswer]:
    """The learner's latest answer to each of `questions`, by question id."""
    if not user.is_authenticated:
        return {}
    answers = QuestionAnswer.objects.filter(user=user, question__in=questions)
    return {answer.question_id: answer for answer in answers}


def lesson_progress(*, lesson: Lesson, user) -> Progress:
    """The learner's progress through `lesson`, in one query (the htmx answers' progress bar)."""
    counts = (
        Lesson.objects.filter(pk=lesson.pk)
        .annotate(**_progress_counts(user_id=user.pk))
        .values("section_count", "done_count", "question_count", "right_count")
        .get()
    )
    return Progress(
        counts["done_count"],
        counts["section_count"],
        counts["right_count"],
        counts["question_count"],
    )


def _count(queryset, lesson_field: str) -> Coalesce:
    """A scalar subquery counting `queryset`'s rows of the outer lesson."""
    counted = (
        queryset.filter(**{lesson_field: OuterRef("pk")})
        .order_by()
        .values(lesson_field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _progress_counts(*, user_id: int | None) -> dict[str, Coalesce]:
    """Per lesson: published sections and questions, those `user_id` completed / got right.

    Scalar subqueries, not joins: joining sections, everybody's progress, questions and
    everybody's answers would multiply the rows by the size of the class."""
    return {
        "section_count": _count(Section.objects.filter(published=True), "lesson"),
        "done_count": _count(
            SectionProgress.objects.filter(user_id=user_id, section__published=True),
            "section__lesson",
        ),
        "question_count": _count(Question.objects.filter(published=True), "lesson"),
        "right_count": _count(
            QuestionAnswer.objects.filter(user_id=user_id, correct=True, question__published=True),
            "question__lesson",
        ),
    }


@dataclass(frozen=True)
class ExerciseCard:
    """An exercise on the course home, with the learner's best graded attempt (if any)."""

    title: str
    summary: str
    url: str
    best_score: int | None
    best_status: str
    best_url: str
    attempts: int


def exercise_cards(*, user: AbstractBaseUser | AnonymousUser) -> list[ExerciseCard]:
    """Published exercises and the learner's best finished attempt at each (two queries)."""
    from exercises.models import Exercise, Submission  # read-only: the course links to them

    exercises = list(Exercise.objects.filter(published=True))
    best: dict[int, Submission] = {}
    attempts: dict[int, int] = {}
    if user.is_authenticated and exercises:
        finished = (
            Submission.objects.owned_by(user)
            .finished()
            .counted()
            .filter(exercise__in=exercises)
            .order_by("-score", "-created_at")
            .only("exercise_id", "public_id", "score", "status", "created_at")
        )
        for submission in finished:
            best.setdefault(submission.exercise_id, submission)
            attempts[submission.exercise_id] = attempts.get(submission.exercise_id, 0) + 1
    cards = []
    for exercise in exercises:
        top = best.get(exercise.pk)
        cards.append(
            ExerciseCard(
                title=exercise.title,
                summary=exercise.summary,
                url=exercise.get_absolute_url(),
                best_score=top.score if top else None,
                best_status=top.get_status_display() if top else "",
                best_url=top.get_absolute_url() if top else "",
                attempts=attempts.get(exercise.pk, 0),
            )
        )
    return cards
