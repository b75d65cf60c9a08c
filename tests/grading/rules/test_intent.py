"""Rules judged by intent (issue 11): each fix in several styles, statically through the
grader and directly on the rule's helper."""

from __future__ import annotations

import pytest

from exercises.grading.rules.healthcheck import cannot_fail
from exercises.grading.rules.references import floating_reason, image_ref, minimal_kind
from exercises.grading.rules.secrets import literal_secret

from ..support import check, evidence, replaced

DF, DC = "Dockerfile", "docker-compose.yml"
BUILDER_FROM = "FROM node:18-alpine AS builder"
FINAL_FROM = "# Production image\nFROM node:18-alpine\n"
DB_IMAGE = "image: postgres:14-alpine"
APP_IMAGE = "image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}"
APP_HEALTHCHECK = (
    '      test: ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", '
    '"http://localhost:3000/health"]\n'
)
FLOATING = ["alpine", "lts", "slim", "current", "bookworm", "latest", "lts-alpine", "iron-slim"]


# --- floating tags are not pinned, wherever an image is named ---------------------------------


@pytest.mark.parametrize("tag", FLOATING)
def test_a_floating_tag_in_from_is_not_pinned(grade, reference, tag):
    result = grade(replaced(reference, DF, BUILDER_FROM, f"FROM node:{tag} AS builder"))
    assert not check(result, "security-practices").passed
    assert f"FROM node:{tag} is not pinned" in evidence(result, "security-practices")


@pytest.mark.parametrize("image", ["node:lts", "tianon/gosu", "gcr.io/tini/tini:stable"])
def test_copy_from_an_image_is_judged_like_from(grade, reference, image):
    files = replaced(
        reference, DF, "USER appuser", f"COPY --from={image} /usr/local/bin/x /x\nUSER appuser"
    )
    result = grade(files)
    assert not check(result, "security-practices").passed
    assert f"COPY --from={image}" in evidence(result, "security-practices")


def test_copy_from_a_stage_or_a_pinned_image_is_fine(grade, reference):
    files = replaced(
        reference, DF, "USER appuser",
        "COPY --from=node:22.11.0-alpine /usr/local/bin/node /n\n"
        "COPY --from=0 /app/package.json /p\nUSER appuser",
    )  # fmt: skip
    assert check(grade(files), "security-practices").passed


@pytest.mark.parametrize("tag", ["alpine", "lts-alpine", "stable"])
def test_a_floating_compose_image_is_not_pinned(grade, reference, tag):
    compose = reference[DC].replace(
        "\nvolumes:",
        f"\n  cache:\n    image: redis:{tag}\n    mem_limit: 64m\n    cpus: 0.2\n\nvolumes:",
    )
    result = grade({**reference, DC: compose})
    assert f"image redis:{tag} is not pinned" in evidence(result, "security-practices")


@pytest.mark.parametrize("tag", ["alpine", "bookworm", "current"])
def test_a_floating_database_tag_fails_the_tagging_check(grade, reference, tag):
    result = grade(replaced(reference, DC, DB_IMAGE, f"image: postgres:{tag}"))
    assert not check(result, "tagging-strategy").passed
    assert not check(result, "security-practices").passed


@pytest.mark.parametrize(
    "image",
    [
        "postgres:17",
        "postgres:16.4-bookworm",
        "postgres:17-alpine3.20",
        "postgres@sha256:" + "b" * 64,
    ],
)
def test_versioned_database_images_are_pinned(grade, reference, image):
    result = grade(replaced(reference, DC, DB_IMAGE, f"image: {image}"))
    assert check(result, "tagging-strategy").passed, evidence(result, "tagging-strategy")
    assert check(result, "security-practices").passed, evidence(result, "security-practices")


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("node:22-alpine", True),
        ("node:22.11.0-bookworm-slim", True),
        ("redis:7.4-alpine", True),
        ("debian:bookworm-slim", True),  # a distribution's codename is its version
        ("gcr.io/distroless/nodejs22-debian12:nonroot", True),  # the version is in the name
        ("node:lts-alpine3.19", False),  # alpine's version, not node's
        ("nginx:stable-alpine", False),
        ("node:current-slim", False),
        ("cgr.dev/chainguard/node:latest", False),
        ("node", False),
    ],
)
def test_floating_reason(image, pinned):
    assert (floating_reason(image_ref(image)) is None) is pinned


# --- literal secrets are literal values -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DATABASE_PASSWORD", "/run/secrets/db-password"),
        ("API_KEY", "./secrets/api_key.txt"),
        ("JWT_SECRET_EXPIRES_IN", "7d"),
        ("TOKEN_EXPIRY_SECONDS", "3600"),
        ("SESSION_SECRET_ROTATION", "true"),
        ("DATABASE_URL", "postgres://${USER:-x}@db:5432/app"),
        ("DATABASE_URL", "postgres://${DB_USER}:${DB_PASSWORD:-x}@db:5432/app"),
        ("DB_PASSWORD", "${DB_PASSWORD}"),
    ],
)
def test_not_a_literal_secret(key, value):
    assert not literal_secret(key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DB_PASSWORD", "123456"),
        ("JWT_SECRET", "change-me"),
        ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ("NOTES", "-----BEGIN RSA PRIVATE KEY-----"),
    ],
)
def test_a_literal_secret(key, value):
    assert literal_secret(key, value)


@pytest.mark.parametrize(
    "line",
    [
        "      - DATABASE_PASSWORD=/run/secrets/db_password\n",
        "      - SESSION_TOKEN_TTL_SECONDS=3600\n",
        "      - POSTGRES_URL=postgres://${DB_USER:-app}@db:5432/app\n",
    ],
    ids=["file-path", "number", "interpolated-url"],
)
def test_settings_about_secrets_pass_both_secret_rules(grade, reference, line):
    files = replaced(
        reference, DC, "      - NODE_ENV=production\n", "      - NODE_ENV=production\n" + line
    )
    result = grade(files)
    assert check(result, "security-practices").passed, evidence(result, "security-practices")
    assert check(result, "environment-config").passed, evidence(result, "environment-config")


def test_a_dockerfile_duration_is_not_a_secret(grade, reference):
    files = replaced(
        reference, DF, "ENV NODE_ENV=production", "ENV NODE_ENV=production JWT_SECRET_EXPIRES_IN=1h"
    )
    assert check(grade(files), "security-practices").passed


# --- health checks that cannot fail -----------------------------------------------------------


@pytest.mark.parametrize(
    "test",
    [
        "curl http://localhost:3000/health",
        "curl -s http://localhost:3000/health || exit 1",
        "wget -qO- http://localhost:3000/health && echo 0 || echo 1",
        "wget -qO- http://localhost:3000/health || exit 0",
        "exit 0",
        "'true'",
        "wget -qO- http://localhost:3000/health; exit 0",
    ],
)
def test_a_compose_healthcheck_that_cannot_fail(grade, reference, test):
    files = replaced(reference, DC, APP_HEALTHCHECK, f"      test: {test}\n")
    result = grade(files)
    assert not check(result, "health-checks").passed
    assert "cannot fail" in check(result, "health-checks").summary


def test_an_exec_form_curl_without_fail_cannot_fail(grade, reference):
    files = replaced(
        reference,
        DC,
        APP_HEALTHCHECK,
        '      test: ["CMD", "curl", "http://localhost:3000/health"]\n',
    )
    assert not check(grade(files), "health-checks").passed


def test_a_dockerfile_healthcheck_that_cannot_fail(grade, reference):
    files = replaced(
        reference, DF,
        "CMD wget --no-verbose --tries=1 --spider http://localhost:3000/health || exit 1",
        "CMD curl http://localhost:3000/health",
    )  # fmt: skip
    block = "    healthcheck:\n" + APP_HEALTHCHECK + "      interval: 30s\n      timeout: 5s\n"
    files = replaced(files, DC, block, "    healthcheck:\n      interval: 30s\n      timeout: 5s\n")
    assert not check(grade(files), "health-checks").passed


@pytest.mark.parametrize(
    "command",
    [
        "curl -f http://localhost:3000/health || exit 1",
        "curl -fsS http://localhost:3000/health",
        "curl --fail-with-body http://localhost:3000/health",
        "curl -s http://localhost:3000/health | grep -q ok",
        "wget --spider -q http://localhost:3000/health || exit 1",
        "node healthcheck.js",
        "pg_isready -U app",
    ],
)
def test_health_checks_that_can_fail(command):
    assert cannot_fail(command) is None


# --- variables from the learner's own env file ------------------------------------------------


def test_the_learners_env_file_decides_the_tag(grade, reference):
    result = grade({**reference, ".env": "VERSION=latest\nBUILD_NUMBER=\n"})
    assert not check(result, "tagging-strategy").passed
    result = grade({**reference, ".env": "VERSION=2.4.0\nBUILD_NUMBER=12\n"})
    assert check(result, "tagging-strategy").passed
    assert "myapp:2.4.0-12" in evidence(result, "tagging-strategy")
    assert "the tag is resolved with your .env (BUILD_NUMBER=12, VERSION=2.4.0)" in evidence(
        result, "tagging-strategy"
    )


def test_without_the_variable_in_env_the_grader_value_is_used(grade, reference):
    result = grade({**reference, ".env": "OTHER=1\n"})
    assert "myapp:1.4.2-87" in evidence(result, "tagging-strategy")


# --- minimal decided from the image -----------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "node:22-bookworm-slim",
        "node:lts-alpine",
        "mhart/alpine-node:16",
        "gcr.io/distroless/nodejs22-debian12:debug-nonroot",
        "cgr.dev/chainguard/node:latest-dev",
        "node:22-alpine3.20",
    ],
)
def test_minimal_images_by_name_and_variant(image):
    assert minimal_kind(image_ref(image)) is not None


def test_a_final_stage_from_an_alpine_stage_is_minimal(grade, reference):
    files = replaced(
        reference, DF, BUILDER_FROM, "FROM node:22-alpine AS base\nFROM base AS builder"
    )
    files = replaced(files, DF, FINAL_FROM, "# Production image\nFROM base\n")
    result = grade(files)
    assert check(result, "minimal-base-image").passed, evidence(result, "minimal-base-image")


# --- capabilities -----------------------------------------------------------------------------


def test_cap_drop_all_with_default_caps_added_back_is_reported_as_hardening(grade, reference):
    files = replaced(
        reference, DC, "    secrets:\n      - app_secret\n",
        "    cap_drop: [ALL]\n    cap_add: [NET_BIND_SERVICE]\n    secrets:\n      - app_secret\n",
    )  # fmt: skip
    result = grade(files)
    assert check(result, "security-practices").passed
    assert (
        "recommended (optional): cap_drop: [ALL] — set, adding back NET_BIND_SERVICE (Docker defaults)"
        in evidence(result, "security-practices")
    )
