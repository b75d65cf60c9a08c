"""Helpers of the reliability suite: the reference answer, hostile edits, leak counting."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path

from exercises.grading.types import GradeResult

REPO = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPO / "exercises" / "assets" / "docker-production" / "reference"
DF, DC = "Dockerfile", "docker-compose.yml"
REFERENCE: dict[str, str] = {name: (REFERENCE_DIR / name).read_text() for name in (DF, DC)}
STATUSES = {"passed", "failed", "rejected", "error"}


def app_lines(compose: str, extra: str) -> str:
    """The compose file with `extra` (YAML at service level) added to the app service."""
    block = "".join(f"    {line}\n" for line in extra.strip("\n").splitlines())
    assert compose.count("  app:\n") == 1
    return compose.replace("  app:\n", "  app:\n" + block, 1)


def top_level(compose: str, extra: str) -> str:
    return compose.rstrip("\n") + "\n\n" + extra.strip("\n") + "\n"


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not in the text exactly once"
    return text.replace(old, new)


def write_submission(
    directory: Path, files: dict[str, str], symlinks: dict[str, str] | None = None
) -> Path:
    directory.mkdir(parents=True)
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for name, target in (symlinks or {}).items():
        os.symlink(target, directory / name)
    return directory


def everything_shown(result: GradeResult) -> str:
    """All a learner (or the instructor) can ever see of a grading."""
    return json.dumps(result.to_json()) + "\n" + result.log


def assert_well_formed(result: GradeResult) -> None:
    """Every outcome is one of the four statuses, and an error always says why."""
    data = result.to_json()
    assert data["status"] in STATUSES, data
    if data["status"] == "error":
        assert data["error"] and data["error"].strip(), data
        assert "Traceback" not in data["error"]
    if data["status"] == "rejected":
        assert data["policy"] and all(p["detail"] for p in data["policy"]), data
    json.dumps(data)  # the JSON contract: always serialisable


def unique(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:10]


def job_labelled(client, *, settle_s: float = 0.0) -> dict[str, list[str]]:
    """Everything on the engine that carries Drydock's job label, once this process's
    teardowns (which run after the verdict) are done; `settle_s`: also wait up to that long
    for other processes' (a Celery worker's) teardowns to empty it."""
    from exercises.grading.sandbox import wait_for_teardown

    wait_for_teardown()
    deadline = time.monotonic() + settle_s
    while (found := _job_labelled(client)) and any(found.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def _job_labelled(client) -> dict[str, list[str]]:
    label = {"label": "org.drydock.job"}
    return {
        "containers": [c["Names"][0] for c in client.api.containers(all=True, filters=label)],
        "networks": [n["Name"] for n in client.api.networks(filters=label)],
        "volumes": [v["Name"] for v in client.api.volumes(filters=label).get("Volumes") or []],
        "images": [i["Id"][7:19] for i in client.api.images(all=True, filters=label)],
    }


_JOB = re.compile(r"^job-([a-z0-9]+)")


def scratch_leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def job_ids(root: Path) -> set[str]:
    return {m.group(1) for p in scratch_leftovers(root) if (m := _JOB.match(p))}
