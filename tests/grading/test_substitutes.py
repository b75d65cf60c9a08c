"""Which stand-in grades a tag the sandbox does not have (pure; the engine side is in
tests/integration/test_runtime.py)."""

from __future__ import annotations

import pytest

from exercises.grading.sandbox.substitutes import candidate


@pytest.mark.parametrize(
    ("ref", "standin"),
    [
        ("node:14.17.3-alpine3.14", "node:18-alpine"),  # an old patch release: the oldest LTS
        ("node:21-alpine", "node:22-alpine"),  # an odd major: the next even one
        ("node:16-bullseye", "node:18"),  # a Debian full image: full
        ("node:16.17.0-bullseye-slim", "node:18-slim"),
        ("docker.io/library/node:20.11.1", "node:20"),
        ("postgres:16.4", "postgres:16"),
        ("postgres:9.6-alpine", "postgres:14-alpine"),
        ("redis:6.2", "redis:7-alpine"),
        ("nginx:1.25", "nginx:alpine"),
    ],
)
def test_an_official_tag_gets_the_nearest_stand_in_of_its_flavour(ref, standin):
    assert candidate(ref) == standin


@pytest.mark.parametrize(
    "ref",
    [
        "n8nio/base:22",
        "outlinewiki/outline-base",
        "ghcr.io/x/node:20",
        "node",
        "mongo:7",
        "node:6-nosuch",
        "postgres:16-fancy",
        "node:22-alpine-evil",
    ],  # fmt: skip
)
def test_anything_else_has_no_substitute(ref):
    assert candidate(ref) is None
