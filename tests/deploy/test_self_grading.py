"""Drydock grades itself: its own deployment (docker/) passes its own static analysers.

The submission is the repository: the Dockerfile is docker/platform/Dockerfile (built with the
repository root as its context), the compose file docker/compose.yaml. Every rule that is not
about Node.js must pass; hadolint must find nothing; the sandbox policy must find nothing in
compose.yaml. The grading-engine override (compose.grading-engine.yaml) deliberately gives the
worker the grading engine's socket directory: its one finding is pinned here, so that nothing
else slips in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.grading.compose import (
    ComposeConfig,
    compose_document,
    find_app_service,
    find_db_service,
    interpolate_tree,
)
from exercises.grading.dockerfile import Hadolint, dockerfile_parse, final_image
from exercises.grading.files import Submission
from exercises.grading.policy import raw_violations
from exercises.grading.rules import Analysis, extensions, static_checks

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = "docker/platform/Dockerfile"
COMPOSE = "docker/compose.yaml"
GRADING_ENGINE = "docker/compose.grading-engine.yaml"
# Nothing is set: the defaults in the files are what a fresh deployment gets.
VARIABLES: dict[str, str] = {}
# environment-config's NODE_ENV rule is about Node.js apps; Drydock is a Django app, whose
# production switch is DJANGO_SETTINGS_MODULE (asserted separately below).
NODE_ONLY = ("NODE_ENV",)


def _text(name: str) -> str:
    return (REPO / name).read_text()


@pytest.fixture(scope="module")
def analysis(tmp_path_factory) -> Analysis:
    files = {name: _text(name).encode() for name in (DOCKERFILE, COMPOSE, ".dockerignore")}
    submission = Submission(files=files, dockerfile=DOCKERFILE, compose=COMPOSE)
    hadolint = Hadolint(_text(DOCKERFILE))
    home = tmp_path_factory.mktemp("compose-home")
    config, _warnings = ComposeConfig(
        workdir=REPO / "docker", compose_name="compose.yaml", project="drydock",
        variables=VARIABLES, home=home,
    ).result()  # fmt: skip
    services = config["services"]
    db = find_db_service(services)
    app = find_app_service(services, db)
    build = services[app]["build"]
    build_args = {k: str(v) for k, v in (build.get("args") or {}).items()}
    dockerfile = dockerfile_parse(_text(DOCKERFILE))
    findings, problem = hadolint.result()
    raw = compose_document(_text(COMPOSE), COMPOSE)
    return Analysis(
        submission=submission, dockerfile=dockerfile, dockerfile_name=DOCKERFILE,
        final=final_image(dockerfile, build.get("target"), build_args), build_args=build_args,
        raw_services=raw["services"], config=config, app=app, db=db, workdir=REPO,
        findings=findings, hadolint_problem=problem,
    )  # fmt: skip


def test_the_grader_finds_the_web_app_and_the_database(analysis):
    assert (analysis.app, analysis.db) == ("web", "db")


def test_hadolint_finds_nothing(analysis):
    """DL3057 (no HEALTHCHECK) is judged per stage by hadolint: the grader ignores it when the
    app has a healthcheck, and so does this test (the builder stage never runs)."""
    assert analysis.hadolint_problem is None
    assert analysis.final.healthcheck is not None
    findings = [f for f in analysis.findings if f.code != "DL3057"]
    assert [f"{f.code} line {f.line}: {f.message}" for f in findings] == []
    assert {f.line for f in analysis.findings} <= {analysis.dockerfile.stages[0].line}


@pytest.mark.parametrize(
    "check_id",
    ["minimal-base-image", "non-root-user", "security-practices", "resource-limits",
     "health-checks", "tagging-strategy"],
)  # fmt: skip
def test_generic_checks_pass(analysis, check_id):
    result = next(r for r in static_checks(analysis) if r.id == check_id)
    assert result.passed, "\n".join(result.evidence)


def test_environment_config_fails_only_on_the_node_specific_rule(analysis):
    result = next(r for r in static_checks(analysis) if r.id == "environment-config")
    failures = [line for line in result.evidence if line.startswith("✗")]
    assert failures and all(any(word in f for word in NODE_ONLY) for f in failures), failures
    assert "✓ credentials come from variables, env_file or secrets" in result.evidence
    web_env = analysis.services["web"]["environment"]
    assert web_env["DJANGO_SETTINGS_MODULE"] == "drydock.settings.production"
    assert "DJANGO_DEBUG" not in web_env


def test_the_bonus_extensions_logging_and_segmentation_are_present(analysis):
    present = {e.id for e in extensions(analysis) if e.present}
    assert {"logging", "network-segmentation"} <= present


def test_the_sandbox_policy_finds_nothing_in_compose_yaml():
    document = interpolate_tree(compose_document(_text(COMPOSE), COMPOSE), VARIABLES)
    assert raw_violations(document, base="docker") == []


def test_the_grading_engine_override_has_exactly_its_one_documented_finding():
    """The worker reaches the dedicated grading engine's socket directory, nothing else of the
    host: no general-purpose engine socket, no shared scratch directory."""
    document = interpolate_tree(compose_document(_text(GRADING_ENGINE), GRADING_ENGINE), VARIABLES)
    details = sorted(v.detail for v in raw_violations(document, base="docker"))
    assert details == [
        "service worker mounts /run/drydock-grading, which is outside your submission",
    ]


# --- what the issue asks of the stack beyond the seven checks ---------------------------------

LONG_RUNNING = ("web", "worker", "beat", "redis", "db")


def test_every_long_running_service_is_healthchecked_limited_rotated_and_restarted(analysis):
    for name in LONG_RUNNING:
        service = analysis.services[name]
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["options"]["max-size"], name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name
    migrate = analysis.services["migrate"]
    assert migrate["restart"] == "no" and migrate["deploy"]["resources"]["limits"]["memory"]


def test_apps_wait_for_healthy_dependencies_and_the_migration(analysis):
    for name in ("web", "worker", "beat"):
        depends = analysis.services[name]["depends_on"]
        assert depends["db"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_the_database_and_broker_are_only_on_the_internal_network(analysis):
    networks = analysis.config["networks"]
    assert networks["backend"].get("internal") is True
    for name in ("db", "redis", "worker", "beat", "migrate"):
        assert list(analysis.services[name]["networks"]) == ["backend"], name
    assert set(analysis.services["web"]["networks"]) == {"frontend", "backend"}
    published = [s for s, spec in analysis.services.items() if spec.get("ports")]
    assert published == ["web"]


def test_secrets_come_from_files_and_volumes_are_named(analysis):
    assert all(s.get("file") for s in analysis.config["secrets"].values())
    assert set(analysis.config["volumes"]) == {"pgdata", "redisdata"}
    for name in ("web", "worker", "beat", "migrate"):
        environment = analysis.services[name]["environment"]
        assert environment["DJANGO_SECRET_KEY_FILE"].startswith("/run/secrets/")
        assert "@" not in environment["DRYDOCK_BROKER_URL"]  # no password in the URL
        assert "CELERY_BROKER_URL" not in environment  # Celery would prefer it to the settings


def test_the_image_is_versioned_labelled_and_runs_as_a_numeric_non_root_user(analysis):
    assert analysis.services["web"]["image"] == "drydock:0.1.0"
    labels = " ".join(i.args for i in analysis.final.instructions if i.keyword == "LABEL")
    assert "org.opencontainers.image.version" in labels
    assert "org.opencontainers.image.revision" in labels
    assert analysis.final.user_value == "10001:10001"
    assert analysis.final.healthcheck is not None


def test_the_build_context_sends_only_what_the_image_needs():
    ignore = _text(".dockerignore").splitlines()
    assert ignore[ignore.index("*") + 1 :]  # an allowlist: everything excluded first
    allowed = {line for line in ignore if line.startswith("!")}
    assert "!var/wheelhouse/" in allowed
    assert not any(word in line for line in allowed for word in ("secrets", ".env", ".git"))
