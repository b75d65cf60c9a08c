"""Which stand-in grades a tag the sandbox does not have (pure; the engine side is in
tests/integration/test_runtime.py)."""

from __future__ import annotations

import pytest

from exercises.grading.sandbox.substitutes import _note, candidate, digests_dropped
from exercises.grading.types import ProjectFile

DIGEST = "sha256:" + "3bca55259ada636e5fee8f2836aba7fa01fed7afd0652e12773ad44af95868b9"


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
        (f"node:16.13.0-alpine@{DIGEST}", "node:18-alpine"),  # the digest cannot be verified
        ("redislabs/redismod", "redis:7-alpine"),  # a vendor image: Redis with modules
        ("docker.io/redislabs/redismod:edge", "redis:7-alpine"),
        # a vendor base made from a stand-in and the offline mirror (it starts via dumb-init)
        ("louislam/uptime-kuma:base-debian", "node:20-bookworm-slim"),
    ],
)
def test_an_official_tag_gets_the_nearest_stand_in_of_its_flavour(ref, standin):
    assert candidate(ref) == standin


@pytest.mark.parametrize(
    "ref",
    [
        "n8nio/base:22",
        "louislam/uptime-kuma:1.23",  # the application image, not its base
        "ghcr.io/redislabs/redismod",  # another registry: another image
        "outlinewiki/outline-base",
        "ghcr.io/x/node:20",
        "node",
        "mongo:7",
        "node:6-nosuch",
        "postgres:16-fancy",
        "node:22-alpine-evil",
        f"node@{DIGEST}",  # a digest alone does not say which image it is
        f"n8nio/base:22@{DIGEST}",
    ],  # fmt: skip
)
def test_anything_else_has_no_substitute(ref):
    assert candidate(ref) is None


def test_the_build_gets_the_dockerfile_without_the_digests_of_its_from_lines():
    text = (
        f"FROM node:16.13.0-alpine@{DIGEST} AS base\n"
        f"FROM --platform=$BUILDPLATFORM node:20@{DIGEST}\n"
        f"COPY --from=node:20@{DIGEST} /x /x\n"  # not a FROM line: left as written
        f"FROM base"
    )
    files = {"Dockerfile": ProjectFile(text.encode(), 0o600), "a.txt": ProjectFile(b"@sha256")}
    built = digests_dropped(files, "Dockerfile")
    assert built["Dockerfile"].content.decode().splitlines() == [
        "FROM node:16.13.0-alpine AS base",
        "FROM --platform=$BUILDPLATFORM node:20",
        f"COPY --from=node:20@{DIGEST} /x /x",
        "FROM base",
    ]
    assert built["Dockerfile"].mode == 0o600 and built["a.txt"] is files["a.txt"]
    assert digests_dropped({"Dockerfile": ProjectFile(b"FROM node:20")}, "Dockerfile") == {
        "Dockerfile": ProjectFile(b"FROM node:20")
    }


def test_a_vendor_substitute_says_what_is_missing():
    note = _note("redislabs/redismod", "redis:7-alpine")
    assert note.startswith("sandbox: redislabs/redismod is a vendor image not available offline")
    assert "without the modules" in note
    assert _note("node:21", "node:22") == (
        "sandbox: node:21 is not available offline: graded with the stand-in node:22"
    )
