"""A learner answers a lesson's knowledge check in a real browser: one right, one wrong."""

from __future__ import annotations

import pytest

from course.models import Question

from .conftest import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LESSON = "/courses/docker-in-production/architecture-patterns/"


def _choose(page, question: Question, *, right: bool) -> None:
    choice = question.choices.filter(correct=right).first()
    form = page.locator(f"#check-{question.slug} form.kc-form")
    form.locator(f"input[value='{choice.id}']").check()
    form.locator("button.kc-submit").click()


def test_learner_answers_one_right_and_one_wrong_and_sees_explanations_and_progress(
    live_server, lecture, page, artifacts
):
    sign_up(page, live_server.url, "quizzer", next_path=LESSON)
    page.goto(live_server.url + LESSON)
    progress = page.locator("#lesson-progress")
    assert "0 of 4 questions" in progress.inner_text()
    assert progress.locator("progress").get_attribute("value") == "0"

    right = Question.objects.get(lesson__slug="architecture-patterns", slug="single-host-failure")
    _choose(page, right, right=True)
    feedback = page.locator("#check-single-host-failure .kc-feedback.is-right")
    feedback.wait_for()
    assert "Correct" in feedback.inner_text()
    assert "single point of failure" in feedback.inner_text()  # the explanation
    assert feedback.locator("a[href='#single-host-deployment']").is_visible()
    assert page.url == live_server.url + LESSON  # htmx swapped the form, no reload
    page.wait_for_function(
        "document.querySelector('#lesson-progress').innerText.includes('1 of 4 questions')"
    )
    assert progress.locator("progress").get_attribute("value") == "1"

    wrong = Question.objects.get(
        lesson__slug="architecture-patterns", slug="releases-that-touch-data"
    )
    _choose(page, wrong, right=False)
    feedback = page.locator("#check-releases-that-touch-data .kc-feedback.is-wrong")
    feedback.wait_for()
    assert "Not quite" in feedback.inner_text()
    assert "schema" in feedback.inner_text()  # the explanation says why
    assert "1 of 4 questions" in progress.inner_text()  # a wrong answer doesn't count

    feedback.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "knowledge-check.png"), full_page=False)

    page.reload()  # kept per learner
    assert page.locator("#check-single-host-failure .kc-feedback.is-right").is_visible()
    assert page.locator("#check-releases-that-touch-data .kc-feedback.is-wrong").is_visible()
    assert page.js_errors == []
