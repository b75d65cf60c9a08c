"""A learner reads the whole lecture in a real browser: diagrams render, progress moves."""

from __future__ import annotations

import pytest

from course.models import Lesson

from .conftest import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait_for_diagrams(page) -> dict:
    page.wait_for_function(
        "window.drydockMermaid === undefined ? document.querySelectorAll('pre.mermaid').length === 0 : window.drydockMermaid.done"
    )
    return page.evaluate(
        """() => ({
            blocks: document.querySelectorAll('pre.mermaid').length,
            svgs: document.querySelectorAll('pre.mermaid svg').length,
            errors: (window.drydockMermaid || {errors: []}).errors,
            syntaxErrors: [...document.querySelectorAll('pre.mermaid')].filter(e => /Syntax error/i.test(e.textContent)).length,
        })"""
    )


def test_every_lesson_renders_every_diagram_as_svg(live_server, lecture, page, artifacts):
    lessons = list(Lesson.objects.filter(module__course=lecture))
    total = 0
    for lesson in lessons:
        page.goto(live_server.url + lesson.get_absolute_url())
        result = _wait_for_diagrams(page)
        assert result["errors"] == [], f"{lesson.slug}: Mermaid reported {result['errors']}"
        assert result["syntaxErrors"] == 0, lesson.slug
        assert result["svgs"] == result["blocks"], f"{lesson.slug}: {result}"
        assert page.locator(".highlight .copy-button").count() == page.locator(".highlight").count()
        total += result["svgs"]
    assert total == 10
    assert page.js_errors == []


def test_learner_marks_a_section_complete_and_the_progress_bar_moves(
    live_server, lecture, page, artifacts
):
    url = live_server.url + "/courses/docker-in-production/architecture-patterns/"
    sign_up(
        page,
        live_server.url,
        "reader",
        next_path="/courses/docker-in-production/architecture-patterns/",
    )
    page.goto(url)
    bar = page.locator("#lesson-progress progress")
    assert bar.get_attribute("value") == "0"
    page.locator("#single-host-deployment button.complete").click()
    page.wait_for_selector("#single-host-deployment button.complete.done")
    assert page.url == url  # no page reload: htmx swapped the button and the bar
    assert bar.get_attribute("value") == "1"
    assert "1 of 3 sections" in page.locator("#lesson-progress").inner_text()

    _wait_for_diagrams(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "lesson-desktop.png"), full_page=False)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "lesson-phone.png"), full_page=False)
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not overflow, "the lesson page scrolls sideways at phone width"


def test_keyboard_user_can_skip_to_content_and_follow_the_toc(live_server, lecture, page):
    page.goto(live_server.url + "/courses/docker-in-production/security/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    toc_link = page.locator("nav.toc a[href='#security-checklist']")
    toc_link.focus()
    page.keyboard.press("Enter")
    assert page.url.endswith("#security-checklist")
