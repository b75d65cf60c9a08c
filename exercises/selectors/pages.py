"""The learner's pages: the exercise, its checklist links, a learner's submissions and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DockerLexer, TextLexer, YamlLexer

from course.models import Lesson

from ..models import ChecklistItem, Exercise, Submission


def exercise_get(*, slug: str) -> Exercise | None:
    return Exercise.objects.filter(slug=slug, published=True).prefetch_related("checklist").first()


EXERCISE_LESSON = "practical-exercise"  # the lecture's lesson the exercise page links back to
RECENT_ATTEMPTS = 5  # the exercise page lists these; the attempts page lists them all


def _lessons(slugs: set[str]) -> dict[str, Lesson]:
    return {
        lesson.slug: lesson
        for lesson in Lesson.objects.published()
        .filter(slug__in=slugs)
        .select_related("module__course")
    }


def checklist_links(
    items: list[ChecklistItem], lessons: dict[str, Lesson] | None = None
) -> dict[str, str]:
    """Map each check id to the URL of the lecture section that teaches it (one query)."""
    if lessons is None:
        lessons = _lessons({i.lesson_slug for i in items})
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


def exercise_lesson_url(lessons: dict[str, Lesson] | None = None) -> str:
    """The lecture's Practical Exercise lesson, for the 'back to the lecture' link."""
    if lessons is None:
        lessons = _lessons({EXERCISE_LESSON})
    lesson = lessons.get(EXERCISE_LESSON)
    return lesson.get_absolute_url() if lesson else reverse("course:home")


@dataclass(frozen=True)
class ExerciseShared:
    """What the exercise page shows everybody: cached per content version (course/page_cache)."""

    exercise: Exercise
    checklist: list[ChecklistItem]  # each with .lesson_url
    lesson_url: str  # the lecture's Practical Exercise lesson


def exercise_shared(*, slug: str) -> ExerciseShared | None:
    """The published exercise, its checklist and lesson links: no query once cached."""
    from course.page_cache import shared_value

    def compute() -> ExerciseShared | None:
        exercise = exercise_get(slug=slug)
        if exercise is None:
            return None
        items = list(exercise.checklist.all())
        links, lesson_url = exercise_links(items=items)
        for item in items:
            item.lesson_url = links.get(item.check_id, "")
        return ExerciseShared(exercise=exercise, checklist=items, lesson_url=lesson_url)

    return shared_value(f"exercise:{slug}", compute)


def exercise_links(*, items: list[ChecklistItem]) -> tuple[dict[str, str], str]:
    """The checklist's lesson links and the 'back to the lecture' link, in one query."""
    lessons = _lessons({i.lesson_slug for i in items} | {EXERCISE_LESSON})
    return checklist_links(items, lessons), exercise_lesson_url(lessons)


def submission_get_for_learner(*, public_id: UUID | str, user) -> Submission | None:
    """The submission, only if `user` owns it (anyone else gets None, i.e. a 404)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        public_id = UUID(str(public_id))
    except ValueError:
        return None
    return (
        Submission.objects.owned_by(user)
        .select_related("exercise")
        .filter(public_id=public_id)
        .first()
    )


def submissions_for_learner(
    *, user, exercise: Exercise, limit: int | None = None
) -> list[Submission]:
    """The learner's attempts at `exercise`, newest first (the newest `limit` of them)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(learner_attempts(user=user, exercise=exercise)[:limit])


def learner_attempts(*, user, exercise: Exercise):
    """The queryset of the learner's attempts, newest first, with what the table shows."""
    return (
        Submission.objects.owned_by(user)
        .filter(exercise=exercise)
        .only(
            "public_id",
            "attempt",
            "status",
            "score",
            "checks_passed",
            "created_at",
            "finished_at",
            "is_infrastructure_error",
            "settled_statically",
            "grading_delayed",
            "exercise_id",
        )  # fmt: skip
    )


@dataclass(frozen=True)
class SubmissionProgress:
    status: str
    label: str
    message: str
    step: int  # 0 = queued … len(STAGES) = done
    steps: int
    elapsed_s: int
    log_tail: str
    delayed: bool

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.steps)


LOG_TAIL_LINES = 25


def submission_progress(
    *, submission: Submission, now: datetime | None = None
) -> SubmissionProgress:
    """What the polling fragment shows while a submission is being graded."""
    now = now or timezone.now()
    stages = [str(s) for s in Submission.STAGES]
    step = len(stages) if submission.is_finished else stages.index(submission.status)
    since = submission.started_at or submission.created_at
    end = submission.finished_at or now
    lines = submission.log.rstrip("\n").splitlines()[-LOG_TAIL_LINES:] if submission.log else []
    return SubmissionProgress(
        status=submission.status,
        label=submission.get_status_display(),
        message=submission.stage_message,
        step=step,
        steps=len(stages),
        elapsed_s=max(0, int((end - since).total_seconds())),
        log_tail="\n".join(lines),
        delayed=submission.grading_delayed,
    )


# Editor preview --------------------------------------------------------------------------------

PREVIEW_LEXERS = {"dockerfile": DockerLexer, "yaml": YamlLexer, "text": TextLexer}


def code_preview_html(*, text: str, language: str) -> str:
    """Pygments-highlighted HTML for the editor's preview (Pygments escapes the text)."""
    lexer = PREVIEW_LEXERS.get(language, TextLexer)()
    return highlight(text[: 256 * 1024], lexer, HtmlFormatter(cssclass="highlight"))


def editor_files_for_learner(
    *, user, exercise: Exercise, from_public_id: str = ""
) -> tuple[dict[str, str], Submission | None]:
    """The files the editors start with, and the submission they come from (None: the starter).

    The attempt named by `from_public_id` (the learner's own), else the learner's latest
    submission, else the starter's development files: a learner never retypes their files.
    """
    source = None
    if getattr(user, "is_authenticated", False):
        if from_public_id:
            source = submission_get_for_learner(public_id=from_public_id, user=user)
            if source is not None and source.exercise_id != exercise.pk:
                source = None
        if source is None:
            source = (
                Submission.objects.owned_by(user)
                .filter(exercise=exercise)
                .only("public_id", "files", "attempt", "exercise_id", "created_at")
                .first()
            )
    if source is not None:
        return dict(source.files), source
    from course.page_cache import shared_value

    from ..services.exercises import starter_editor_files

    # read from disk once per content version, not on every first visit
    starter = shared_value(
        f"starter-editor-files:{exercise.slug}", lambda: starter_editor_files(slug=exercise.slug)
    )
    return dict(starter), None
