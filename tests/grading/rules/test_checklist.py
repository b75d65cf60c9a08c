"""The seven rules, statically: the lecture's two set-ups, then variants in several styles."""

from __future__ import annotations

import pytest

from exercises.grading.compose import image_ref
from exercises.grading.rules import HINTS, minimal_kind
from exercises.grading.types import CHECK_IDS, Status

from ..support import check, evidence, read_fixture, replaced

DF, DC = "Dockerfile", "docker-compose.yml"


def test_development_setup_fails_all_seven(grade, development):
    result = grade(development)
    assert result.status == Status.FAILED
    assert [c.id for c in result.checks] == list(CHECK_IDS)
    assert [c.id for c in result.checks if c.passed] == []
    assert result.score == 0


def test_reference_answer_passes_all_seven(grade, reference):
    result = grade(reference)
    assert result.status == Status.PASSED, [
        (c.id, c.summary) for c in result.checks if not c.passed
    ]
    assert result.score == 100
    assert result.mode == "static"


@pytest.mark.parametrize("fixture", ["distroless", "slim-web"])
def test_other_production_styles_pass(grade, fixture):
    result = grade(read_fixture(fixture))
    assert result.status == Status.PASSED, [
        (c.id, c.summary) for c in result.checks if not c.passed
    ]


def test_every_failed_check_has_a_summary_evidence_and_the_rule_hint(grade, development):
    for result in grade(development).checks:
        assert result.summary and result.evidence
        assert result.hint == HINTS[result.id]


# --- 1. minimal-base-image --------------------------------------------------------------------

ARG_FROM = """ARG NODE_VERSION=18
FROM node:${NODE_VERSION}-alpine
USER node
CMD ["node", "dist/server.js"]
"""


@pytest.mark.parametrize(
    "dockerfile",
    [
        ARG_FROM,
        "FROM node:18-slim\nUSER node\n",
        'FROM gcr.io/distroless/nodejs18-debian12:nonroot\nCMD ["dist/server.js"]\n',
        "FROM cgr.dev/chainguard/node:20\nUSER 65532\n",
        'FROM node:18-alpine AS base\nUSER node\nFROM base AS runtime\nCMD ["node", "x"]\n',
    ],
    ids=["arg-from", "slim", "distroless", "chainguard", "stage-alias"],
)
def test_minimal_base_passes(grade, reference, dockerfile):
    result = grade({**reference, DF: dockerfile})
    assert check(result, "minimal-base-image").passed, evidence(result, "minimal-base-image")


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM node:18\nUSER node\n",
        "FROM ubuntu:22.04\nUSER 1000\n",
        "FROM python:3.9\nUSER 1000\n",
        "FROM node:18-alpine AS build\nRUN npm ci\nFROM node:18\nUSER node\n",
        "ARG BASE\nFROM ${BASE}\nUSER node\n",
        "ARG NODE_VERSION=18\nFROM node:${NODE_VERSION}\nUSER node\n",
    ],
    ids=["node18", "ubuntu", "python", "full-final-stage", "arg-without-default", "arg-full"],
)
def test_minimal_base_fails(grade, reference, dockerfile):
    assert not check(grade({**reference, DF: dockerfile}), "minimal-base-image").passed


def test_compose_build_target_and_args_decide_the_final_stage(grade, reference):
    dockerfile = (
        "ARG NODE_IMAGE=node:18-alpine\n"
        'FROM node:18 AS dev\nCMD ["npm", "run", "dev"]\n'
        "FROM ${NODE_IMAGE} AS prod\nUSER node\n"
    )
    compose = reference[DC].replace(
        "  app:\n", "  app:\n    build:\n      context: .\n      target: dev\n", 1
    )
    assert not check(grade({**reference, DF: dockerfile, DC: compose}), "minimal-base-image").passed
    compose = reference[DC].replace(
        "  app:\n",
        "  app:\n    build:\n      context: .\n      args:\n        NODE_IMAGE: node:18\n",
        1,
    )
    assert not check(grade({**reference, DF: dockerfile, DC: compose}), "minimal-base-image").passed
    assert check(grade({**reference, DF: dockerfile}), "minimal-base-image").passed


@pytest.mark.parametrize(
    ("image", "minimal"),
    [
        ("scratch", True),
        ("busybox:1.36", True),
        ("alpine:3.19", True),
        ("node:lts-alpine3.19", True),
        ("python:3.9-slim-bookworm", True),
        ("debian:bookworm-slim", True),
        ("registry.access.redhat.com/ubi9/ubi-minimal:9.3", True),
        ("node:18", False),
        ("centos:7", False),
        ("debian:12", False),
        ("node@sha256:abc", False),
        ("myslimapp:1.0", False),
    ],
)
def test_minimal_kind(image, minimal):
    assert (minimal_kind(image_ref(image)) is not None) is minimal


# --- 2. non-root-user -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerfile", "compose_user"),
    [
        ("FROM node:18-alpine\nUSER appuser\n", None),
        ("FROM node:18-alpine\nUSER 1001\n", None),
        ("FROM node:18-alpine\nARG UID=1001\nUSER ${UID}:${UID}\n", None),
        ("FROM node:18-alpine\nUSER node\n", '"1001:1001"'),
        ('FROM node:18-alpine AS base\nUSER node\nFROM base\nCMD ["node", "x"]\n', None),
        ('FROM gcr.io/distroless/nodejs18-debian12:nonroot\nCMD ["x.js"]\n', None),
    ],
    ids=["name", "numeric", "arg", "compose-uid", "inherited-stage", "distroless-nonroot"],
)
def test_non_root_passes(grade, reference, dockerfile, compose_user):
    compose = reference[DC]
    if compose_user:
        compose = compose.replace("  app:\n", f"  app:\n    user: {compose_user}\n", 1)
    result = grade({**reference, DF: dockerfile, DC: compose})
    assert check(result, "non-root-user").passed, evidence(result, "non-root-user")


@pytest.mark.parametrize(
    ("dockerfile", "compose_user"),
    [
        ('FROM node:18-alpine\nCMD ["node", "x"]\n', None),
        ("FROM node:18-alpine\nUSER node\nRUN id\nUSER root\n", None),
        ("FROM node:18-alpine\nUSER 0:0\n", None),
        ("FROM node:18-alpine\nUSER node\n", "root"),
        ("FROM node:18-alpine\nUSER node\n", '"0"'),
        ('FROM node:18-alpine AS build\nUSER node\nFROM node:18-alpine\nCMD ["node"]\n', None),
        ("FROM node:18-alpine\nUSER ${APP_USER}\n", None),
    ],
    ids=[
        "no-user",
        "root-last",
        "uid-0",
        "compose-root",
        "compose-0",
        "user-only-in-builder",
        "unresolved",
    ],
)
def test_non_root_fails(grade, reference, dockerfile, compose_user):
    compose = reference[DC]
    if compose_user:
        compose = compose.replace("  app:\n", f"  app:\n    user: {compose_user}\n", 1)
    assert not check(grade({**reference, DF: dockerfile, DC: compose}), "non-root-user").passed


# --- 3. security-practices --------------------------------------------------------------------

REF_FINAL_FROM = "# Production image\nFROM node:18-alpine\n"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ENV NODE_ENV=production", "ENV NODE_ENV=production DB_PASSWORD=s3cr3t"),
        ("ENV NODE_ENV=production", "ENV NODE_ENV=production\nENV API_KEY abc123"),
        ("ENV NODE_ENV=production", "ENV NODE_ENV=production\nARG NPM_TOKEN=npm_abcdef"),
        (
            "ENV NODE_ENV=production",
            "ENV DATABASE_URL=postgres://app:hunter2@db/app NODE_ENV=production",
        ),
        ("FROM node:18-alpine AS builder", "FROM node AS builder"),
        ("FROM node:18-alpine AS builder", "FROM node:latest AS builder"),
        ("USER appuser", "ADD https://example.com/tool.tgz /opt/\nUSER appuser"),
        ("USER appuser", "RUN curl -fsSL https://get.example.com | sh\nUSER appuser"),
        ("USER appuser", "RUN wget -qO- https://x.example/install.sh | sudo bash -s\nUSER appuser"),
    ],
    ids=[
        "env-password",
        "env-legacy-api-key",
        "arg-token-default",
        "url-with-password",
        "from-untagged",
        "from-latest",
        "add-url",
        "curl-sh",
        "wget-sudo-bash",
    ],
)
def test_security_fails_on_dockerfile(grade, reference, old, new):
    result = grade(replaced(reference, DF, old, new))
    assert not check(result, "security-practices").passed


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("POSTGRES_PASSWORD_FILE: /run/secrets/db_password", "POSTGRES_PASSWORD: devpassword"),
        (
            "      - NODE_ENV=production\n",
            "      - NODE_ENV=production\n      - JWT_SECRET=abc123\n",
        ),
        (
            "POSTGRES_PASSWORD_FILE: /run/secrets/db_password",
            "POSTGRES_PASSWORD: ${DB_PASSWORD:-devpassword}",
        ),
        ("POSTGRES_PASSWORD_FILE: /run/secrets/db_password", "POSTGRES_HOST_AUTH_METHOD: trust"),
        ("image: postgres:14-alpine", "image: postgres"),
        (
            "    volumes:\n      - pgdata",
            '    ports: ["127.0.0.1:5432:5432"]\n    volumes:\n      - pgdata',
        ),
    ],
    ids=[
        "literal-db-password",
        "list-env-secret",
        "literal-fallback",
        "trust-auth",
        "db-untagged",
        "db-port",
    ],
)
def test_security_fails_on_compose(grade, reference, old, new):
    result = grade(replaced(reference, DC, old, new))
    assert not check(result, "security-practices").passed


def test_security_fails_on_untagged_extra_service(grade, reference):
    compose = reference[DC].replace("\nvolumes:", "\n  cache:\n    image: redis\n\nvolumes:", 1)
    assert "redis" in evidence(grade({**reference, DC: compose}), "security-practices")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "ENV NODE_ENV=production",
            "ENV NODE_ENV=production DB_PASSWORD_FILE=/run/secrets/db_password",
        ),
        ("ENV NODE_ENV=production", "ENV NODE_ENV=production\nARG NPM_TOKEN\nENV TOKEN_TTL=3600"),
        (
            "ENV NODE_ENV=production",
            "ENV NODE_ENV=production\nARG SESSION_SECRET\nENV SESSION_SECRET=${SESSION_SECRET}",
        ),
        (
            "FROM node:18-alpine AS builder",
            "FROM node:18-alpine@sha256:" + "a" * 64 + " AS builder",
        ),
    ],
    ids=["file-path", "arg-without-default", "env-from-arg", "digest"],
)
def test_security_passes_with_safe_dockerfile_forms(grade, reference, old, new):
    result = grade(replaced(reference, DF, old, new))
    assert check(result, "security-practices").passed, evidence(result, "security-practices")


def test_security_passes_with_variables_and_reports_recommendations(grade, reference):
    files = replaced(
        reference,
        DC,
        "POSTGRES_PASSWORD_FILE: /run/secrets/db_password",
        "POSTGRES_PASSWORD: ${DB_PASSWORD}",
    )
    result = grade(files)
    assert check(result, "security-practices").passed
    assert (
        "recommended (optional): read_only: true — not set"
        in check(result, "security-practices").evidence
    )


def test_hadolint_ignore_pragma_cannot_hide_a_finding(grade, reference):
    files = replaced(
        reference, DF, "RUN npm ci\n", "# hadolint ignore=DL3016,DL3059\nRUN npm install -g pm2\n"
    )
    assert "DL3016" in "\n".join(c for r in grade(files).checks for c in r.evidence)


# --- 4. resource-limits -----------------------------------------------------------------------

LIMITS = """      resources:
        limits:
          cpus: '0.5'
          memory: 512M
        reservations:
          cpus: '0.25'
          memory: 256M
"""


def test_resource_limits_legacy_keys_pass(grade, reference):
    compose = reference[DC].replace(
        "    deploy:\n" + LIMITS, "    mem_limit: 512m\n    cpus: 0.5\n    deploy:\n", 1
    )
    result = grade({**reference, DC: compose})
    assert check(result, "resource-limits").passed, evidence(result, "resource-limits")


def test_resource_limits_cpu_quota_counts_as_a_cpu_limit(grade, reference):
    compose = reference[DC].replace(
        "    deploy:\n" + LIMITS, "    mem_limit: 512m\n    cpu_quota: 50000\n    deploy:\n", 1
    )
    assert check(grade({**reference, DC: compose}), "resource-limits").passed


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            LIMITS,
            "      resources:\n        reservations:\n          cpus: '0.25'\n          memory: 256M\n",
        ),
        ("          cpus: '1.0'\n          memory: 1G", "          memory: 1G"),
        ("\nvolumes:", "\n  cache:\n    image: redis:7-alpine\n\nvolumes:"),
    ],
    ids=["reservations-only", "memory-only", "service-without-limits"],
)
def test_resource_limits_fail(grade, reference, old, new):
    result = grade(replaced(reference, DC, old, new))
    assert not check(result, "resource-limits").passed


# --- 5. health-checks -------------------------------------------------------------------------

APP_HEALTHCHECK = """    healthcheck:
      test: ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 5s
"""


def test_health_dockerfile_healthcheck_alone_is_enough(grade, reference):
    result = grade(replaced(reference, DC, APP_HEALTHCHECK, ""))
    assert check(result, "health-checks").passed, evidence(result, "health-checks")


def test_health_string_tests_pass(grade, reference):
    files = replaced(
        reference,
        DC,
        '["CMD-SHELL", "pg_isready -U ${DB_USER}"]',
        "pg_isready -U $${POSTGRES_USER}",
    )
    files = replaced(
        files,
        DC,
        APP_HEALTHCHECK,
        "    healthcheck:\n      test: wget -qO- http://localhost:3000/health || exit 1\n",
    )
    assert check(grade(files), "health-checks").passed


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        (DF, "HEALTHCHECK --interval=30s", "HEALTHCHECK NONE\n# HEALTHCHECK --interval=30s"),
        (DC, APP_HEALTHCHECK, "    healthcheck:\n      disable: true\n"),
        (DC, APP_HEALTHCHECK, '    healthcheck:\n      test: ["NONE"]\n'),
        (DC, APP_HEALTHCHECK, '    healthcheck:\n      test: ["CMD", "true"]\n'),
        (
            DC,
            APP_HEALTHCHECK,
            "    healthcheck:\n      test: curl -f http://localhost:3000/health || exit 0\n",
        ),
        (DC, '      test: ["CMD-SHELL", "pg_isready -U ${DB_USER}"]\n', "      disable: true\n"),
        (DC, "        condition: service_healthy", "        condition: service_started"),
        (
            DC,
            "    depends_on:\n      db:\n        condition: service_healthy\n",
            "    depends_on: [db]\n",
        ),
    ],
    ids=[
        "dockerfile-none-only",
        "compose-disable",
        "compose-none",
        "always-true",
        "or-exit-0",
        "db-disabled",
        "service-started",
        "short-depends-on",
    ],
)
def test_health_fails(grade, reference, name, old, new):
    files = replaced(reference, name, old, new)
    if name == DF:  # without the compose healthcheck, only the Dockerfile's counts
        files = replaced(files, DC, APP_HEALTHCHECK, "")
    assert not check(grade(files), "health-checks").passed


# --- 6. environment-config --------------------------------------------------------------------


def test_env_node_env_from_dockerfile_only_passes(grade, reference):
    result = grade(replaced(reference, DC, "      - NODE_ENV=production\n", ""))
    assert check(result, "environment-config").passed, evidence(result, "environment-config")


def test_env_credentials_from_an_env_file_pass(grade, reference):
    files = replaced(
        reference, DC,
        "      POSTGRES_USER: ${DB_USER}\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n      POSTGRES_DB: ${DB_NAME}\n",
        "      POSTGRES_DB: app\n    env_file: [.env.db]\n",
    )  # fmt: skip
    result = grade({**files, ".env.db": "POSTGRES_USER=app\nPOSTGRES_PASSWORD=devpassword\n"})
    assert check(result, "environment-config").passed, evidence(result, "environment-config")
    assert check(result, "security-practices").passed


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        (DF, "ENV NODE_ENV=production", "ENV NODE_ENV=development"),
        (DC, "      - NODE_ENV=production\n", "      - NODE_ENV=${NODE_ENV:-development}\n"),
        (DC, "      - NODE_ENV=production\n", "      - NODE_ENV=production\n      - DEBUG=app:*\n"),
        (
            DC,
            "      - NODE_ENV=production\n",
            "      - NODE_ENV=production\n      - APP_DEBUG=true\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    volumes:\n      - ./src:/app/src\n    secrets:\n      - app_secret\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    volumes:\n      - type: bind\n        source: .\n        target: /app\n    secrets:\n      - app_secret\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    volumes:\n      - ./package.json:/app/package.json\n    secrets:\n      - app_secret\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    volumes:\n      - /app/node_modules\n    secrets:\n      - app_secret\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    volumes:\n      - deps:/app/node_modules\n    secrets:\n      - app_secret\n",
        ),
        (
            DC,
            "    secrets:\n      - app_secret\n",
            "    command: npm run dev\n    secrets:\n      - app_secret\n",
        ),
        (DF, 'CMD ["node", "dist/server.js"]', 'CMD ["npx", "nodemon", "src/server.js"]'),
        (DC, "POSTGRES_USER: ${DB_USER}", "POSTGRES_USER: devuser"),
        (DC, "DATABASE_URL=${DB_URL}", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app"),
    ],
    ids=[
        "dockerfile-development",
        "development-fallback",
        "debug",
        "app-debug",
        "bind-src",
        "bind-long-syntax",
        "bind-package-json",
        "anonymous-node-modules",
        "named-node-modules",
        "npm-run-dev",
        "nodemon",
        "literal-db-user",
        "url-with-literal-user",
    ],
)
def test_env_fails(grade, reference, name, old, new):
    files = replaced(reference, name, old, new)
    if new.startswith("    volumes:\n      - deps"):
        files = replaced(files, DC, "volumes:\n  pgdata:", "volumes:\n  deps:\n  pgdata:")
    if name == DF:
        files = replaced(files, DC, "      - NODE_ENV=production\n", "")
    assert not check(grade(files), "environment-config").passed


def test_env_mounting_a_config_file_is_not_a_source_mount(grade, reference):
    files = replaced(
        reference, DC, "    secrets:\n      - app_secret\n",
        "    volumes:\n      - ./config/production.yaml:/app/config.yaml:ro\n"
        "      - ./logs:/app/logs\n    secrets:\n      - app_secret\n",
    )  # fmt: skip
    result = grade({**files, "config/production.yaml": "level: info\n"})
    assert check(result, "environment-config").passed, evidence(result, "environment-config")


def test_env_no_node_env_anywhere_fails(grade, reference):
    files = replaced(reference, DC, "      - NODE_ENV=production\n", "")
    files = replaced(files, DF, "ENV NODE_ENV=production", "")
    assert "NODE_ENV=production is set neither" in check(grade(files), "environment-config").summary


# --- 7. tagging-strategy ----------------------------------------------------------------------

REF_IMAGE = "image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}"


@pytest.mark.parametrize(
    "image",
    [
        "image: myapp:1.2.3",
        "image: gcr.io/my-project/api:1.2.3-b42",
        "image: registry.example.com/billing-service:2.0.1-8f731a",
        "image: ${REGISTRY_URL}/myapp:${VERSION}",
        "image: myapp:${GIT_SHA}",
        "image: myapp:v2.4.0",
    ],
)
def test_tagging_passes(grade, reference, image):
    result = grade(replaced(reference, DC, REF_IMAGE, image))
    assert check(result, "tagging-strategy").passed, evidence(result, "tagging-strategy")


@pytest.mark.parametrize(
    "image",
    [
        "build: .",
        "image: myapp:latest",
        "image: myapp",
        "image: myapp:new",
        "image: myapp:dev",
        "image: myapp:test",
        "image: myapp:1700000000",
        "image: myapp:prod",
        "image: myapp:${TAG:-latest}",
    ],
)
def test_tagging_fails(grade, reference, image):
    assert not check(grade(replaced(reference, DC, REF_IMAGE, image)), "tagging-strategy").passed


@pytest.mark.parametrize("db_image", ["postgres:alpine", "postgres:latest"])
def test_tagging_fails_on_an_unversioned_database(grade, reference, db_image):
    result = grade(replaced(reference, DC, "image: postgres:14-alpine", f"image: {db_image}"))
    assert not check(result, "tagging-strategy").passed


# --- identifying the services -----------------------------------------------------------------


def test_services_found_whatever_their_names(grade, reference):
    compose = (
        reference[DC]
        .replace("  app:", "  api:")
        .replace("  db:", "  database:")
        .replace("      db:", "      database:")
    )
    result = grade({**reference, DC: compose})
    assert result.status == Status.PASSED, [
        (c.id, c.summary) for c in result.checks if not c.passed
    ]
    assert "api depends on database" in evidence(result, "health-checks")


def test_missing_database_fails_the_database_rules(grade, reference):
    compose = """services:
  web:
    build: .
    image: shop:1.0.0
    mem_limit: 256m
    cpus: 0.5
"""
    result = grade({**reference, DC: compose})
    assert not check(result, "health-checks").passed
    assert not check(result, "tagging-strategy").passed
    assert check(result, "resource-limits").passed


# --- extensions -------------------------------------------------------------------------------


def test_extensions_are_reported_and_never_change_the_status(grade):
    result = grade(read_fixture("slim-web"))
    assert result.status == Status.PASSED
    assert {e.id: e.present for e in result.extensions} == {
        "logging": True, "monitoring": True, "backups": True, "network-segmentation": True, "ci-cd": True,
    }  # fmt: skip


def test_no_extensions_in_the_reference(grade, reference):
    assert not any(e.present for e in grade(reference).extensions)
