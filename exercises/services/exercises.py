"""Exercises from their assets: loading instructions and checklist, packaging the starter."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from ..models import ChecklistItem, Exercise

DEFAULT_TITLE = "Converting Development Docker to Production"
STARTER_EDITOR_FILES = ("Dockerfile", "docker-compose.yml")  # what a first visit's editors show


def exercise_assets_dir(slug: str) -> Path:
    return Path(settings.EXERCISE_ASSETS_DIR) / slug


def _split_title(markdown_text: str) -> tuple[str, str]:
    first, _, rest = markdown_text.partition("\n")
    if first.startswith("# "):
        return first[2:].strip(), rest.lstrip("\n")
    return DEFAULT_TITLE, markdown_text


@transaction.atomic
def exercise_load(*, slug: str) -> Exercise:
    """Create or refresh an exercise from its assets (instructions and checklist).

    Instructor edits in the admin are overwritten only when this is called explicitly.
    """
    directory = exercise_assets_dir(slug)
    title, instructions = _split_title((directory / "exercise.md").read_text(encoding="utf-8"))
    exercise, _ = Exercise.objects.update_or_create(
        slug=slug, defaults={"title": title, "instructions": instructions}
    )
    items = yaml.safe_load((directory / "checklist.yaml").read_text(encoding="utf-8")) or []
    for order, item in enumerate(items, start=1):
        ChecklistItem.objects.update_or_create(
            exercise=exercise,
            check_id=item["id"],
            defaults={
                "order": order,
                "title": item["title"],
                "description": item.get("description", ""),
                "hint": item.get("hint", ""),
                "lesson_slug": item.get("lesson", ""),
                "section_slug": item.get("section", ""),
            },
        )
    return exercise


def starter_zip(*, slug: str) -> bytes:
    """The starter project as a zip, built from the repository's copy on each download."""
    root = exercise_assets_dir(slug) / "starter"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "node_modules" not in path.parts:
                archive.write(path, f"{slug}-starter/{path.relative_to(root)}")
    return buffer.getvalue()


def starter_editor_files(*, slug: str) -> dict[str, str]:
    """The starter's development Dockerfile and compose file: a first visit's editors start there."""
    root = exercise_assets_dir(slug) / "starter"
    files = {}
    for name in STARTER_EDITOR_FILES:
        try:
            files[name] = (root / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return files
