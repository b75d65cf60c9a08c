"""A new learner submits in a real browser and watches a real worker grade on a real engine."""

from __future__ import annotations

import time

import pytest

from exercises.services import exercise_load
from tests.exercises.conftest import DEVELOPMENT, REFERENCE
from tests.worker.fixtures import broker, engine_ready, redis_url, start_celery  # noqa: F401  (fixtures)

from .conftest import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.engine, pytest.mark.slow]
EXERCISE = "/exercises/docker-production/"


def submit(page, files: dict[str, str]) -> float:
    """Fill both editors and submit; returns the seconds until a result (static or final) shows."""
    page.fill("#id_dockerfile", files["Dockerfile"])
    page.fill("#id_compose", files["docker-compose.yml"])
    page.wait_for_selector("#preview-compose .highlight")  # the highlighted preview came back
    started = time.monotonic()
    page.click("#submission-form button[type=submit]")
    page.wait_for_selector("#report .result")
    return time.monotonic() - started


def watch(page, timeout: float = 300, *, screenshot=None) -> list[str]:
    """The stages the learner sees, in order, until the result page stops polling."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        classes = page.get_attribute("#grading-status", "class") or ""
        stage = next(
            (c.removeprefix("status-") for c in classes.split() if c.startswith("status-")), ""
        )
        if stage and (not seen or seen[-1] != stage):
            seen.append(stage)
            if stage == "building" and screenshot:
                page.screenshot(path=str(screenshot), full_page=False)
        if " done" in f" {classes}":
            return seen
        page.wait_for_timeout(100)
    raise AssertionError(f"grading did not finish in {timeout}s; stages seen: {seen}")


def test_a_new_learner_submits_watches_and_gets_7_of_7_then_0_of_7(
    live_server,
    lecture,
    page,
    artifacts,
    start_celery,  # noqa: F811 (fixtures)
    engine_ready,  # noqa: F811 (fixtures)
):
    exercise_load(slug="docker-production")
    start_celery(DRYDOCK_GRADING_ENGINE=f"unix://{engine_ready}")
    sign_up(page, live_server.url, "new-learner", next_path=EXERCISE)
    assert page.url.endswith(EXERCISE)
    assert page.locator("#submission-form").is_visible()
    page.fill("#id_dockerfile", REFERENCE["Dockerfile"])
    page.wait_for_selector("#preview-dockerfile .highlight")
    page.locator("#submit").screenshot(path=str(artifacts / "submission-form.png"))

    # The reference answer: the instant checks at once, then the build and run, then 7/7.
    static_s = submit(page, REFERENCE)
    assert static_s < 3, f"the static result took {static_s:.1f}s"
    assert (
        page.locator("#static-result-minimal-base-image, #result-minimal-base-image").count() == 1
    )
    started = time.monotonic()
    stages = watch(page, screenshot=artifacts / "submission-building.png")
    full_s = time.monotonic() - started + static_s
    assert stages[-1] == "passed", stages
    assert any(
        stage in ("queued", "checking", "building", "running", "probing") for stage in stages
    ), stages
    status = page.inner_text("#grading-status")
    assert "7/7" in status and "Attempt 1" in page.inner_text("h1")
    assert (
        page.locator("#report .result.pass").count() == 7
        and page.locator("#report .result.fail").count() == 0
    )
    assert page.locator("#report details.evidence").count() == 7
    page.locator("#report details.evidence").first.click()  # evidence unfolds
    assert page.locator("#report details.evidence").first.get_attribute("open") is not None
    page.screenshot(path=str(artifacts / "submission-passed.png"), full_page=True)

    # The development set-up: 0/7, each check with its hint and lesson link.
    page.goto(live_server.url + EXERCISE)
    assert page.locator("#attempts tbody tr").count() == 1
    submit(page, DEVELOPMENT)
    stages = watch(page)
    assert stages[-1] == "failed", stages
    assert "0/7" in page.inner_text("#grading-status") and "Attempt 2" in page.inner_text("h1")
    assert page.locator("#report .result.fail").count() == 7
    assert page.locator("#report .result .hint").count() == 7
    assert page.locator("#report .lesson-link a").count() == 7
    page.screenshot(path=str(artifacts / "submission-failed.png"), full_page=True)

    # History: both attempts, and their diff.
    page.goto(live_server.url + EXERCISE + "#attempts")
    assert page.locator("#attempts tbody tr").count() == 2
    page.click("#attempts button[type=submit]")
    old_side = page.locator(".split-diff >> nth=0").locator("td.del").all_inner_texts()
    new_side = page.locator(".split-diff >> nth=0").locator("td.add").all_inner_texts()
    assert any("FROM node:18-alpine AS builder" in text for text in old_side)
    assert any(text.endswith("FROM node:18") for text in new_side)
    assert page.js_errors == []
    print(
        f"\nsubmit → static result {static_s:.2f}s; submit → 7/7 {full_s:.1f}s (browser, polling every 1s)"
    )
