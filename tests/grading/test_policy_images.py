"""Every image a submission names is judged before anything runs (issue 10: nothing shared
between jobs, learner errors are the learner's)."""

from __future__ import annotations

import pytest

from exercises.grading import grader
from exercises.grading.dockerfile import dockerfile_parse
from exercises.grading.grader import grade_directory
from exercises.grading.policy_images import engine_sources_problem
from exercises.grading.types import Status

from .support import replaced

DF, DC = "Dockerfile", "docker-compose.yml"
APP_IMAGE = "image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}"
DB_IMAGE = "image: postgres:14-alpine"
FIRST_FROM = "FROM node:18-alpine AS builder"

# (case, reference) for base images that must never reach the engine.
REFUSED_BASES = [
    ("loopback-registry", "127.0.0.1:5000/x:1"),
    ("loopback-no-port", "127.0.0.1/x:1"),
    ("localhost", "localhost/x:1"),
    ("localhost-port", "localhost:5000/x:1"),
    ("ipv6", "[::1]:5000/x:1"),
    ("private-ip", "10.0.0.2/x:1"),
    ("public-registry", "ghcr.io/acme/x:1"),
    ("host-port", "registry:5000/x:1"),
    ("capital-host", "Registry/x:1"),
    ("job-image", "drydock/job-0123456789ab:app"),
    ("untagged-job-app", "drydock-0123456789ab-app:untagged"),
    ("baseline", "drydock/baseline-starter:0123456789abcdef"),
    ("image-id", "sha256:" + "a" * 64),
    ("bare-id", "a" * 64),
    ("short-id", "3f2a9c"),
    ("capitals", "Node:18-alpine"),
    ("empty-tag", "node:"),
    ("dot-dot", "a/../node:18"),
]


def refused(result, where: str) -> str:
    assert result.status == Status.REJECTED, (result.status, result.error, result.policy)
    details = [v.detail for v in result.policy if v.rule == "image"]
    assert details and all(d.startswith(where) for d in details), result.policy
    assert result.checks == []
    return details[0]


@pytest.mark.parametrize(("case", "image"), REFUSED_BASES, ids=[c for c, _ in REFUSED_BASES])
def test_compose_base_images(grade, reference, case, image):
    result = grade(replaced(reference, DC, DB_IMAGE, f"image: '{image}'"))
    refused(result, "service db's image")


@pytest.mark.parametrize(
    ("how", "dockerfile", "compose_build"),
    [
        ("from", "FROM {ref} AS builder", None),
        ("from-platform", "FROM --platform=linux/amd64 {ref} AS builder", None),
        ("global-arg", "ARG BASE={ref}\nFROM ${{BASE}} AS builder", None),
        ("arg-with-suffix", "ARG TAG=1\nFROM {ref}${{NOPE}} AS builder", None),
        ("build-arg", "ARG BASE=node:18-alpine\nFROM $BASE AS builder", "BASE: '{ref}'"),
        ("copy-from", "FROM node:18-alpine AS builder\nCOPY --from={ref} /x /x", None),
        ("copy-from-arg", "FROM node:18-alpine AS builder\nARG S={ref}\nCOPY --from=$S /x /x", None),
        ("run-mount", "FROM node:18-alpine AS builder\nRUN --mount=type=bind,from={ref},target=/m true", None),
        ("onbuild", "FROM node:18-alpine AS builder\nONBUILD COPY --from={ref} /x /x", None),
        ("syntax", "# syntax={ref}", None),  # replaces the first line
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "image", ["127.0.0.1:5000/x:1", "drydock/job-0123456789ab:app", "sha256:" + "b" * 64]
)
def test_dockerfile_images(grade, reference, how, dockerfile, compose_build, image):
    old = "# Production Dockerfile" if how == "syntax" else FIRST_FROM
    files = replaced(reference, DF, old, dockerfile.format(ref=image))
    if compose_build:
        build = f"    build:\n      context: .\n      args:\n        {compose_build.format(ref=image)}\n"
        files = replaced(files, DC, "  app:\n", "  app:\n" + build)
    detail = refused(grade(files), "Dockerfile line")
    assert image in detail


def test_the_app_tag_with_capitals_is_the_learners_error_before_the_engine(
    submit, reference, monkeypatch
):
    """Today the engine answers 400 while tagging: retried as Drydock's fault, forever."""
    monkeypatch.setattr(grader, "_observe", lambda *a: pytest.fail("reached the engine"))
    files = replaced(reference, DC, APP_IMAGE, "image: MyApp:1.0.0")
    result = grade_directory(submit(files))  # full mode: raises nothing
    detail = refused(result, "service app's image")
    assert "repository names must be lower case" in detail


@pytest.mark.parametrize(
    "image",
    ["MyApp:1.0.0", "myapp:", "my app:1", "myapp@sha256:" + "c" * 64, "drydock-x-app:1", "a" * 64],
)
def test_the_app_tag_must_be_a_valid_tag(grade, reference, image):
    refused(grade(replaced(reference, DC, APP_IMAGE, f"image: '{image}'")), "service app's image")


@pytest.mark.parametrize(
    "image", ["gcr.io/my-project/api:1.2.3-b42", "localhost:5000/team/app:2", "myapp:1.2.3"]
)
def test_the_app_tag_may_name_any_registry(grade, reference, image):
    result = grade(replaced(reference, DC, APP_IMAGE, f"image: {image}"))
    assert result.status in (Status.PASSED, Status.FAILED), result.policy


def test_another_service_may_run_the_apps_own_image(grade, reference):
    worker = f"  worker:\n    {APP_IMAGE}\n    command: node dist/worker.js\n"
    result = grade(replaced(reference, DC, "\n  db:\n    image:", f"\n{worker}  db:\n    image:"))
    assert result.status in (Status.PASSED, Status.FAILED), result.policy


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM gcr.io/distroless/nodejs18-debian12:nonroot\n",
        "FROM node:18-alpine@sha256:" + "a" * 64 + "\n",
        "FROM docker.io/library/node:18-alpine\n",
        "FROM builder\n",  # not a stage before it: an image called builder
        "ARG V=18\nFROM node:${V}-alpine AS b\nFROM b\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\n",
    ],
)
def test_usable_dockerfile_images_are_not_refused(grade, reference, dockerfile):
    result = grade({**reference, DF: dockerfile + 'USER 1000\nCMD ["node", "x"]\n'})
    assert result.status in (Status.PASSED, Status.FAILED), result.policy


STANDINS = ["node:18-alpine", "postgres:14-alpine"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("FROM node:18-alpine AS b\nFROM b\nCOPY --from=b /x /x\n", None),
        ("FROM node:18\n", "not available in the sandbox"),
        ("FROM node:18-alpine\nCOPY --from=myapp:1.0 /x /x\n", "not available in the sandbox"),
        ("FROM node:18-alpine\nADD http://127.0.0.1:8000/metrics /m\n", "ADD fetches"),
        ("FROM node:18-alpine\nRUN a \\\f\nADD http://127.0.0.1/x /m\n", "ADD fetches"),
        ("FROM 127.0.0.1:5000/node:18-alpine\n", "comes from the registry"),
    ],
)
def test_engine_sources_problem_before_a_build(text, problem):
    found = engine_sources_problem(dockerfile_parse(text), {}, standins=STANDINS)
    assert (found is None) if problem is None else (problem in found), found
