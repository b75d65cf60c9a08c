"""After everything else: the engine holds nothing with Drydock's job label, and the grader's
scratch root holds no job or upload directory. Nothing is cleaned here before counting."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.grading.sandbox.client import LABEL_MANAGED
from exercises.grading.sandbox.limits import BUILD_CGROUP_PREFIX

from .figures import FIGURES
from .support import job_labelled, scratch_leftovers

pytestmark = pytest.mark.last


def test_nothing_is_left_behind(private_engine, engine_client, scratch_root):
    on_engine = job_labelled(engine_client)
    managed = {"label": LABEL_MANAGED}
    on_engine["managed containers"] = [
        c["Names"][0] for c in engine_client.api.containers(all=True, filters=managed)
    ]
    scratch = scratch_leftovers(scratch_root)
    count = sum(map(len, on_engine.values())) + len(scratch)
    cgroups = sorted(p.name for p in Path("/sys/fs/cgroup/pids").glob(f"{BUILD_CGROUP_PREFIX}*"))
    FIGURES.leaks(count)
    FIGURES.line(
        "leaks: "
        + ", ".join(f"{len(v)} {k}" for k, v in on_engine.items())
        + f", {len(scratch)} scratch directories (engine: the suite's; build cgroups on this "
        f"host, any engine's, removed by the janitor after 15 min: {len(cgroups)})"
    )
    assert count == 0, {**on_engine, "scratch": scratch}
