"""Which builder a Dockerfile gets: BuildKit (Docker's default since 2023) wherever the classic
builder would build it differently from the learner's own Docker."""

from __future__ import annotations

import pytest

from exercises.grading.sandbox.buildkit import needs_buildkit


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM node:20\nUSER node\nWORKDIR /home/node/app\nRUN npm ci\n",
        "FROM node:20 AS build\nuser 1000:1000\nworkdir /app\n",
        "FROM node:20\nRUN --mount=type=cache,target=/root/.npm npm ci\n",
    ],
)
def test_a_workdir_made_after_a_non_root_user_is_built_with_buildkit(dockerfile):
    # BuildKit creates that WORKDIR owned by the user; the classic builder by root, so
    # `npm ci` would fail with EACCES where the learner's Docker succeeds.
    assert needs_buildkit(dockerfile)


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM node:20\nWORKDIR /app\nUSER node\nCMD node x\n",
        "FROM node:20\nUSER root\nWORKDIR /app\n",
        "FROM node:20\nUSER node\nFROM node:20\nWORKDIR /app\n",  # a new stage starts as root
    ],
)
def test_anything_else_keeps_the_classic_builder(dockerfile):
    assert not needs_buildkit(dockerfile)
