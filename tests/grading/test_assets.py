"""The exercise's assets agree with the grader: check ids, order, hints and lecture links."""

from __future__ import annotations

from pathlib import Path

import yaml

from exercises.grading.rules import HINTS
from exercises.grading.types import CHECK_IDS

ASSETS = Path(__file__).resolve().parents[2] / "exercises" / "assets" / "docker-production"
LINKS = {
    "minimal-base-image": ("production-images", "image-size-optimization"),
    "non-root-user": ("best-practices", "container-security"),
    "security-practices": ("security", "security-checklist"),
    "resource-limits": ("best-practices", "resource-management"),
    "health-checks": ("best-practices", "resource-management"),
    "environment-config": ("practical-exercise", "solution-outline"),
    "tagging-strategy": ("production-images", "image-tagging"),
}


def test_checklist_matches_the_grader():
    items = yaml.safe_load((ASSETS / "checklist.yaml").read_text())
    assert [item["id"] for item in items] == list(CHECK_IDS)
    for item in items:
        assert set(item) == {"id", "title", "description", "hint", "lesson", "section"}
        assert item["hint"] == HINTS[item["id"]]
        assert (item["lesson"], item["section"]) == LINKS[item["id"]]


def test_instructions_open_with_a_title_and_name_every_supplied_variable():
    text = (ASSETS / "exercise.md").read_text()
    assert text.startswith("# ")
    for name in ("REGISTRY_URL", "VERSION", "BUILD_NUMBER", "DB_URL", "DB_USER", "DB_NAME"):
        assert name in text
