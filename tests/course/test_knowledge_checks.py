"""Knowledge checks: written in the content files, answered per learner, counted in progress,
edited by instructors in the admin and kept by load_course."""

from __future__ import annotations

import html
import shutil

import pytest
from django.conf import settings
from django.core.management import call_command

from course import services
from course.models import Choice, Question, QuestionAnswer
from course.services import ContentError, course_load

pytestmark = pytest.mark.django_db
LESSON_URL = "/courses/docker-in-production/architecture-patterns/"
CONTENT = settings.COURSE_CONTENT_DIR / "docker-in-production"


def _question(slug: str = "single-host-failure") -> Question:
    return Question.objects.get(lesson__slug="architecture-patterns", slug=slug)


def _answer(client, question: Question, *, right: bool, htmx: bool = True):
    choices = question.choices.filter(correct=right).values_list("id", flat=True)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(
        f"/questions/{question.id}/answer/", {"choice": list(choices)[:1]}, **headers
    )


# The content -----------------------------------------------------------------------------------


def test_every_lesson_has_a_knowledge_check_of_three_to_five_well_formed_questions(lecture, client):
    for lesson in lecture.modules.get().lessons.all():
        questions = list(lesson.questions.all())
        assert 3 <= len(questions) <= 5, lesson.slug
        page = client.get(lesson.get_absolute_url()).content.decode()
        assert 'id="knowledge-check"' in page
        for question in questions:
            right = [choice for choice in question.choices.all() if choice.correct]
            assert len(right) == 1 or question.kind == Question.Kind.MULTIPLE, question
            assert question.section is not None and question.section.lesson == lesson
            assert f'<section id="{question.section.slug}"' in page  # the Review link's target
            assert len(question.explanation_html) > 120, question
            assert f'id="check-{question.slug}"' in page
    kinds = set(Question.objects.values_list("kind", flat=True))
    assert kinds == {"single", "multiple", "spot"}


def test_spot_the_problem_questions_show_a_highlighted_snippet(lecture):
    for question in Question.objects.filter(kind=Question.Kind.SPOT):
        assert '<div class="language-' in question.prompt_html, question


def test_a_single_choice_question_with_two_right_answers_is_refused(tmp_path, db):
    directory = tmp_path / "course"
    shutil.copytree(CONTENT, directory)
    checks = directory / "checks" / "01-introduction.yaml"
    checks.write_text(
        checks.read_text()
        .replace("      correct: true", "      correct: true", 1)
        .replace(
            "    - text: The image is encrypted",
            "    - correct: true\n      text: The image is encrypted",
        )
    )
    with pytest.raises(ContentError, match="minimal-attack-surface.*exactly one right"):
        course_load(directory=directory)


def test_a_question_must_name_a_section_of_its_own_lesson(tmp_path, db):
    directory = tmp_path / "course"
    shutil.copytree(CONTENT, directory)
    checks = directory / "checks" / "02-architecture-patterns.yaml"
    checks.write_text(
        checks.read_text().replace("section: clustered-deployment", "section: container-security")
    )
    with pytest.raises(ContentError, match="no section 'container-security'"):
        course_load(directory=directory)


# Answering ---------------------------------------------------------------------------------------


def test_a_right_answer_shows_the_explanation_and_moves_the_progress_bar(client, lecture, learner):
    client.force_login(learner)
    page = client.get(LESSON_URL).content.decode()
    assert "0 of 3 sections · 0 of 4 questions · 0%" in page
    body = _answer(client, _question(), right=True).content.decode()
    assert "✓ Correct" in body
    assert "single point of failure" in body  # the explanation
    assert 'Review: <a href="#single-host-deployment">Single-Host Deployment</a>' in body
    assert 'id="lesson-progress" hx-swap-oob="true"' in body
    assert "0 of 3 sections · 1 of 4 questions · 14%" in body
    assert 'value="1"' in body and 'max="7"' in body


def test_a_wrong_answer_explains_and_does_not_count(client, lecture, learner):
    client.force_login(learner)
    body = _answer(client, _question(), right=False).content.decode()
    assert "✗ Not quite" in body and "single point of failure" in body
    assert "0 of 4 questions" in body
    assert 'class="kc-choice is-wrong"' in body


def test_answers_are_kept_per_learner_and_answering_again_replaces_them(
    client, lecture, learner, django_user_model
):
    client.force_login(learner)
    question = _question()
    _answer(client, question, right=False)
    _answer(client, question, right=True)
    answer = QuestionAnswer.objects.get(user=learner, question=question)
    assert answer.correct and answer.attempts == 2
    page = client.get(LESSON_URL).content.decode()
    assert "✓ Correct" in page and "Answer again" in page  # shown again after a reload
    home = client.get("/courses/docker-in-production/").content.decode()
    assert "1 of 4 questions" in home  # counted in the course outline too

    other = django_user_model.objects.create_user(username="other", password="pw-other-123")
    client.force_login(other)
    page = client.get(LESSON_URL).content.decode()
    assert "✓ Correct" not in page and "0 of 4 questions" in page


def test_a_multiple_choice_question_needs_exactly_the_right_set(lecture, learner):
    question = _question("what-an-orchestrator-adds")
    right = list(question.choices.filter(correct=True).values_list("id", flat=True))
    wrong = list(question.choices.filter(correct=False).values_list("id", flat=True))
    assert not services.question_answer(
        user=learner, question=question, choice_ids=right[:-1]
    ).correct
    assert not services.question_answer(
        user=learner, question=question, choice_ids=right + wrong[:1]
    ).correct
    assert services.question_answer(user=learner, question=question, choice_ids=right).correct


def test_answers_that_cannot_be_graded_get_a_message_not_an_error(client, lecture, learner):
    client.force_login(learner)
    question = _question()
    url = f"/questions/{question.id}/answer/"
    cases = {
        services.ANSWER_EMPTY: {},
        services.ANSWER_ONE: {"choice": list(question.choices.values_list("id", flat=True)[:2])},
        services.ANSWER_UNKNOWN: {
            "choice": [_question("why-stateless-is-disposable").choices.first().id]
        },
    }
    for message, data in cases.items():
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and html.escape(message) in response.content.decode()
    assert not QuestionAnswer.objects.exists()


def test_answering_works_without_javascript_and_needs_a_signed_in_learner(client, lecture, learner):
    question = _question()
    assert _answer(client, question, right=True).status_code == 302  # to the login page
    assert "Log in</a> to check your answers" in client.get(LESSON_URL).content.decode()
    client.force_login(learner)
    response = _answer(client, question, right=True, htmx=False)
    assert response["Location"] == f"{LESSON_URL}#check-single-host-failure"
    assert client.get(f"/questions/{question.id}/answer/").status_code == 405


# Loading and instructor edits ------------------------------------------------------------------------


def test_load_course_is_idempotent_for_questions_and_keeps_instructor_edits(
    lecture, learner, capsys
):
    count, choices = Question.objects.count(), Choice.objects.count()
    call_command("load_course")
    assert "0 created, 0 updated" in capsys.readouterr().out
    assert (Question.objects.count(), Choice.objects.count()) == (count, choices)

    edited = _question()
    edited.prompt = "An instructor's sharper question?"
    edited.save()
    choice = _question("why-stateless-is-disposable").choices.first()
    choice.text = "An instructor's reworded choice"
    choice.save()
    call_command("load_course")
    out = capsys.readouterr().out
    assert "architecture-patterns/check/single-host-failure" in out
    assert "architecture-patterns/check/why-stateless-is-disposable" in out
    assert _question().prompt == "An instructor's sharper question?"
    assert Choice.objects.get(pk=choice.pk).text == "An instructor's reworded choice"


def test_a_changed_content_file_updates_unedited_questions_and_keeps_answers(
    tmp_path, lecture, learner
):
    directory = tmp_path / "course"
    shutil.copytree(CONTENT, directory)
    question = _question()
    answer = services.question_answer(
        user=learner, question=question, choice_ids=[question.choices.get(correct=True).id]
    )
    checks = directory / "checks" / "02-architecture-patterns.yaml"
    checks.write_text(
        checks.read_text().replace("The machine's disk fails.", "Its only disk dies.")
    )
    report = course_load(directory=directory)
    assert report.updated == 1 and report.created == 0
    assert "Its only disk dies." in _question().prompt_html
    answer.refresh_from_db()
    assert set(answer.choice_ids) <= set(question.choices.values_list("id", flat=True))  # ids kept


# Admin ---------------------------------------------------------------------------------------------


def test_instructor_edits_a_question_with_the_live_preview_and_load_course_keeps_it(
    client, staff, lecture, capsys
):
    client.force_login(staff)
    question = _question("releases-that-touch-data")
    url = f"/admin/course/question/{question.id}/change/"
    page = client.get(url).content.decode()
    assert "admin-preview.js" in page and 'data-url="/admin/course/question/preview/"' in page
    assert 'data-field="id_prompt"' in page

    snippet = "Which line is wrong?\n\n```dockerfile\nFROM node:22-alpine\nUSER root\n```\n"
    preview = client.post("/admin/course/question/preview/", {"field": "prompt", "prompt": snippet})
    assert (
        preview.status_code == 200
        and '<div class="language-dockerfile highlight">' in preview.content.decode()
    )

    choices = list(question.choices.all())
    data = {
        "lesson": question.lesson_id, "slug": question.slug, "kind": "spot",
        "section": question.section_id, "order": question.order, "published": "on",
        "prompt": snippet, "explanation": "`USER root` undoes the non-root user.",
        "choices-TOTAL_FORMS": len(choices), "choices-INITIAL_FORMS": len(choices),
        "choices-MIN_NUM_FORMS": 0, "choices-MAX_NUM_FORMS": 1000,
    }  # fmt: skip
    for index, choice in enumerate(choices):
        data |= {
            f"choices-{index}-id": choice.id, f"choices-{index}-question": question.id,
            f"choices-{index}-order": index + 1, f"choices-{index}-text": f"Line {index + 1}",
        }  # fmt: skip
        if index == 1:
            data[f"choices-{index}-correct"] = "on"
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]

    lesson = client.get(LESSON_URL).content.decode()
    assert (
        "Which line is wrong?" in lesson and "Line 2" in lesson and "Spot the problem" in lesson
    )  # kind shown
    call_command("load_course")
    assert "architecture-patterns/check/releases-that-touch-data" in capsys.readouterr().out
    assert _question("releases-that-touch-data").choices.get(correct=True).text == "Line 2"


def test_lesson_page_queries_do_not_grow_with_questions(
    client, tiny_course, learner, django_assert_max_num_queries
):
    client.force_login(learner)
    section = tiny_course.modules.get().lessons.get(slug="l1").sections.first()

    def add_question(number: int) -> None:
        question = Question.objects.create(
            lesson=section.lesson,
            slug=f"q{number}",
            prompt="Why?",
            explanation="Because.",
            section=section,
        )
        Choice.objects.create(question=question, text="Right", correct=True, order=1)
        Choice.objects.create(question=question, text="Wrong", order=2)
        services.question_answer(
            user=learner, question=question, choice_ids=[question.choices.first().id]
        )

    add_question(0)
    with django_assert_max_num_queries(12) as few:
        assert "1 of 1 questions" in client.get("/courses/c/l1/").content.decode()
    for number in range(1, 8):
        add_question(number)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "8 of 8 questions" in client.get("/courses/c/l1/").content.decode()
