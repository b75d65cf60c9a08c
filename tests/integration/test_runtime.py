"""The sandbox runtime against a real engine: the reference answer passes, the classic
mistakes are caught, and nothing of a job is left on the engine afterwards (checked by the
`make_plan` fixture after every test)."""

from __future__ import annotations

import time
import uuid

import docker
import pytest

from exercises.grading import sandbox
from exercises.grading.sandbox.client import local_image
from exercises.grading.sandbox.health import MIN_HEALTH_BUDGET_S
from exercises.grading.sandbox.janitor import janitor
from exercises.grading.sandbox.job import SandboxJob
from exercises.grading.types import SandboxLimits, Stage

from .conftest import REFERENCE, job_leftovers

pytestmark = [pytest.mark.engine, pytest.mark.slow]

LIMITS = SandboxLimits(build_timeout_s=240, run_timeout_s=90)
REFERENCE_DOCKERFILE = (REFERENCE / "Dockerfile").read_text()
REFERENCE_COMPOSE = (REFERENCE / "docker-compose.yml").read_text()
APP_HEALTHCHECK = """    healthcheck:
      test: ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 5s
"""


def observe(plan, limits: SandboxLimits = LIMITS):
    stages: list[Stage] = []
    started = time.monotonic()
    observations = sandbox.observe(
        plan, limits, lambda stage, message, log="": stages.append(stage)
    )
    return observations, time.monotonic() - started, stages


def test_reference_answer_passes(make_plan):
    plan = make_plan()

    obs, seconds, stages = observe(plan)

    assert obs.build_ok, obs.build_error
    assert obs.run_error is None, obs.run_error
    app, db = obs.services["app"], obs.services["db"]
    assert app.started and db.started
    assert app.uid == "1001"
    assert obs.final_image_user == "appuser"
    assert db.health_ok, db.health_output
    assert app.health_ok, app.health_output
    assert obs.http_health_status == 200, obs.http_health_detail
    assert (app.memory_limit, app.nano_cpus) == (512 * 2**20, 500_000_000)
    assert (db.memory_limit, db.nano_cpus) == (2**30, 1_000_000_000)
    assert not app.oom_killed and app.exit_code is None
    assert obs.canary_hits == []
    assert obs.dev_image_size and obs.final_image_size
    assert obs.final_image_size <= 0.6 * obs.dev_image_size
    assert obs.final_image_tags == ["registry.drydock.test/myapp:1.4.2-77"]
    assert {Stage.BUILDING, Stage.RUNNING, Stage.PROBING} <= set(stages)
    assert "Successfully built" in obs.log
    print(f"\nreference observe: {seconds:.1f}s, phases (ms): {obs.phase_ms}")


def test_warm_reference_run_is_quick(make_plan):
    observe(make_plan())  # warms the baseline and the layer cache

    obs, seconds, _ = observe(make_plan())

    assert obs.http_health_status == 200, obs.http_health_detail
    assert obs.phase_ms.get("baseline", 0) < 2000  # reused, not rebuilt
    assert seconds < 30, obs.phase_ms
    print(f"\nwarm reference observe: {seconds:.1f}s, phases (ms): {obs.phase_ms}")


def test_nonexistent_user_is_caught(make_plan):
    plan = make_plan(dockerfile=REFERENCE_DOCKERFILE.replace("USER appuser", "USER ghost"))

    obs, _, _ = observe(plan)

    assert obs.build_ok  # USER is only resolved when a container starts
    assert obs.services["db"].health_ok
    app = obs.services["app"]
    assert not app.started
    assert "unable to find user ghost" in app.health_output
    assert obs.run_error and obs.run_error.startswith("app could not start")
    assert obs.http_health_status is None


@pytest.mark.parametrize(
    ("test", "fast_fail"),
    [
        ('["CMD", "wget", "--spider", "-q", "http://localhost:3999/health"]', False),  # wrong port
        ('["CMD", "curl", "-f", "http://localhost:3000/health"]', True),  # no curl in the image
    ],
    ids=["wrong-port", "missing-binary"],
)
def test_healthcheck_that_never_passes_is_caught(make_plan, test, fast_fail):
    broken = (
        APP_HEALTHCHECK.replace(
            '["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]',
            test,
        )
        .replace("retries: 3", "retries: 2")
        .replace("timeout: 5s", "timeout: 2s")
        .replace("start_period: 5s", "start_period: 1s")
    )
    plan = make_plan(compose=REFERENCE_COMPOSE.replace(APP_HEALTHCHECK, broken, 1))

    obs, _, _ = observe(plan)

    app = obs.services["app"]
    assert app.started
    assert app.health_ok is False
    assert app.healthcheck and app.healthcheck[0] == "CMD"
    budget_ms = 1000 * max(MIN_HEALTH_BUDGET_S, 1 + 2 * 2)
    if fast_fail:
        assert "cannot run in this image" in app.health_output
        assert obs.phase_ms["health_app"] < 2000
    else:
        assert "not healthy after" in app.health_output
        assert obs.phase_ms["health_app"] < budget_ms + 2500
    # the app itself is fine: only its health check is wrong
    assert obs.http_health_status == 200


# A learner's .dockerignore that forgets secrets/ (the starter's own excludes it, and the
# build context honours it: a secret it excludes never reaches the build).
FORGETFUL_DOCKERIGNORE = "node_modules\n"


def test_canary_in_the_final_image_is_found(make_plan):
    leaky = REFERENCE_DOCKERFILE.replace(
        "COPY --from=builder --chown=appuser:appuser /app/dist ./dist",
        "COPY --from=builder --chown=appuser:appuser /app/dist ./dist\n"
        "COPY --from=builder /app/secrets/app_secret.txt /etc/app/config.txt",
    )
    plan = make_plan(dockerfile=leaky, dockerignore=FORGETFUL_DOCKERIGNORE)

    obs, _, _ = observe(plan)

    assert obs.build_ok, obs.build_error
    assert "file:/etc/app/config.txt" in obs.canary_hits
    assert not any(canary in hit for hit in obs.canary_hits for canary in plan.canaries)


def test_secret_deleted_in_a_later_layer_is_still_found(make_plan):
    sneaky = REFERENCE_DOCKERFILE.replace(
        "USER appuser",
        "COPY --from=builder /app/secrets/db_password.txt /tmp/pw\nRUN rm /tmp/pw\nUSER appuser",
    )
    plan = make_plan(dockerfile=sneaky, dockerignore=FORGETFUL_DOCKERIGNORE)

    obs, _, _ = observe(plan)

    assert "file:/tmp/pw" in obs.canary_hits


def test_failing_build_is_a_learner_result(make_plan):
    plan = make_plan(
        dockerfile=REFERENCE_DOCKERFILE.replace("RUN npm run build", "RUN npm run build && exit 3")
    )

    obs, _, _ = observe(plan)

    assert not obs.build_ok
    assert obs.build_error and "RUN npm run build && exit 3" in obs.build_error
    assert "exit code 3" in obs.build_error
    assert obs.services == {}


def test_missing_base_image_is_a_learner_result(make_plan):
    plan = make_plan(
        dockerfile=REFERENCE_DOCKERFILE.replace(
            "FROM node:18-alpine AS builder", "FROM node:6-nosuch AS builder"
        )
    )

    obs, _, _ = observe(plan)

    assert not obs.build_ok
    assert obs.build_error and "not available in the sandbox" in obs.build_error


def test_out_of_memory_is_a_learner_result(make_plan):
    plan = make_plan(compose=REFERENCE_COMPOSE.replace("memory: 512M", "memory: 6M", 1))

    obs, _, _ = observe(plan)

    app = obs.services["app"]
    assert app.memory_limit == 6 * 2**20
    assert not app.health_ok
    assert app.oom_killed or app.exit_code not in (None, 0) or not app.started, app
    assert obs.run_error


def test_janitor_removes_a_crashed_jobs_leftovers(docker_client, standins):
    job_id = uuid.uuid4().hex[:12]
    job = SandboxJob(docker_client, job_id, LIMITS)  # never exited: a "crashed" worker
    network = job.create_network("net-default")
    volume = job.create_volume("vol-data")
    job.create_container(
        service="db", image="busybox:latest", command=["sleep", "60"], network=network
    )
    assert any(job_leftovers(docker_client, job_id).values())

    report = janitor(docker_client, job_id=job_id)

    assert job_leftovers(docker_client, job_id) == {
        "containers": [],
        "networks": [],
        "volumes": [],
        "images": [],
    }
    assert (report["containers"], report["networks"], report["volumes"]) == (1, 1, 1)
    assert volume not in [v.name for v in docker_client.volumes.list()]
    for ref in (
        "node:18-alpine",
        "postgres:14-alpine",
        "busybox:latest",
    ):  # stand-ins are never touched
        assert local_image(docker_client, ref) is not None


def test_unreachable_engine_is_an_infrastructure_error(monkeypatch, tmp_path):
    from exercises.grading.types import InfrastructureError, SandboxPlan

    monkeypatch.setenv("DRYDOCK_GRADING_ENGINE", "unix:///nonexistent/docker.sock")
    plan = SandboxPlan(
        job_id="unreachable",
        files={},
        dockerfile="Dockerfile",
        app_service="app",
        db_service=None,
        app_image_tag="x:1",
        services={},
    )
    with pytest.raises(InfrastructureError, match="engine unreachable"):
        sandbox.observe(plan, LIMITS)


def test_exec_gives_up_at_its_deadline(docker_client, standins):
    with SandboxJob(docker_client, uuid.uuid4().hex[:12], LIMITS) as job:
        network = job.create_network("net-default")
        container = job.create_container(
            service="s", image="busybox:latest", command=["sleep", "60"], network=network
        )
        container.start()
        started = time.monotonic()
        result = job.exec(container.id, ["sleep", "30"], timeout=1)
        assert result.timed_out and time.monotonic() - started < 3
        result = job.exec(container.id, ["sh", "-c", "echo out; echo err >&2; exit 4"], timeout=5)
        # both streams are captured; their interleaving is the engine's (not ordered across streams)
        assert (result.exit_code, sorted(result.output.split())) == (4, ["err", "out"])
    assert not any(job_leftovers(docker_client, job.job_id).values())
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(container.id)


# Health checks that cannot fail, in spellings no static rule knows: only running them with
# the database stopped tells (issue 11).
CANNOT_FAIL = {
    "node-ignores-the-status": (
        '["CMD", "node", "-e", "require(\'http\').get(\'http://localhost:3000/health\', '
        "() => process.exit(0)).on('error', () => process.exit(0))\"]"
    ),
    "wget-output-to-a-pipe": '["CMD-SHELL", "wget -qO- http://localhost:3000/health | cat"]',
    "shell-fallback": '["CMD-SHELL", "wget -q --spider http://localhost:3000/health; [ 1 ]"]',
}


@pytest.mark.parametrize("spelling", sorted(CANNOT_FAIL))
def test_a_health_check_that_cannot_fail_is_caught_with_the_database_down(make_plan, spelling):
    compose = REFERENCE_COMPOSE.replace(
        APP_HEALTHCHECK, APP_HEALTHCHECK.replace(
            '["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]',
            CANNOT_FAIL[spelling],
        ),
    )  # fmt: skip
    assert compose != REFERENCE_COMPOSE
    obs, _, _ = observe(make_plan(compose=compose))
    app = obs.services["app"]
    assert app.health_ok is True, app.health_output
    assert app.health_ok_db_down is True  # it passed with the database dead: it cannot fail


def test_a_stopped_database_refuses_connections_as_on_a_real_host(make_plan):
    """With the database stopped, its name still answers and a connection is refused at once
    (the engine's DNS alone would leave the name unanswered for seconds). This check passes
    only on a refusal or a connection, so it passes with the database down exactly then."""
    refused_or_up = (
        '["CMD", "node", "-e", "const s = require(\'net\').connect(5432, \'db\');'
        " s.on('connect', () => process.exit(0));"
        " s.on('error', e => process.exit(e.code === 'ECONNREFUSED' ? 0 : 1))\"]"
    )
    compose = REFERENCE_COMPOSE.replace(
        APP_HEALTHCHECK, APP_HEALTHCHECK.replace(
            '["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]',
            refused_or_up,
        ),
    )  # fmt: skip
    assert compose != REFERENCE_COMPOSE
    obs, _, _ = observe(make_plan(compose=compose))
    app = obs.services["app"]
    assert app.health_ok is True, app.health_output
    assert app.health_ok_db_down is True


def test_the_reference_health_check_fails_with_the_database_down(make_plan):
    obs, _, _ = observe(make_plan())
    assert obs.services["app"].health_ok is True
    assert obs.services["app"].health_ok_db_down is False


GUIDE_DOCKERFILE = """# syntax=docker/dockerfile:1
ARG NODE_VERSION=18
FROM --platform=$BUILDPLATFORM node:${NODE_VERSION}-alpine
ENV NODE_ENV production
WORKDIR /usr/src/app
RUN --mount=type=bind,source=package.json,target=package.json \\
    --mount=type=bind,source=package-lock.json,target=package-lock.json \\
    --mount=type=cache,target=/root/.npm \\
    npm ci
COPY . .
RUN npm run build
USER node
EXPOSE 3000
CMD ["node", "dist/server.js"]
"""


def test_docker_s_own_node_guide_dockerfile_builds_with_buildkit(make_plan):
    """Docker's Node.js guide (BuildKit bind and cache mounts, `FROM --platform`, `# syntax=`)
    builds offline on the grading engine and is graded on its merits."""
    obs, _, _ = observe(make_plan(dockerfile=GUIDE_DOCKERFILE))
    assert obs.build_ok, obs.build_error
    assert "syntax=` line was ignored" in obs.log
    assert obs.services["app"].started and obs.http_health_status == 200, obs.run_error


ENTRYPOINT_SCRIPT = b'#!/bin/sh\necho "entrypoint ran"\nexec "$@"\n'


@pytest.mark.parametrize("executable", [True, False])
def test_an_executable_entrypoint_script_keeps_its_mode(standins, executable):
    """The execute bit of a learner's script reaches the image (no RUN chmod needed), as on
    their own machine; without it the container cannot start — the same as there."""
    from exercises.grading.grader import grade_files

    dockerfile = REFERENCE_DOCKERFILE.replace(
        "USER appuser", "COPY docker-entrypoint.sh /usr/local/bin/\nUSER appuser", 1
    ).replace('CMD ["node"', 'ENTRYPOINT ["docker-entrypoint.sh"]\nCMD ["node"', 1)
    files = {
        "Dockerfile": dockerfile.encode(),
        "docker-compose.yml": REFERENCE_COMPOSE.encode(),
        "docker-entrypoint.sh": ENTRYPOINT_SCRIPT,
    }
    result = grade_files(
        files, limits=LIMITS, executables=["docker-entrypoint.sh"] if executable else []
    )
    if executable:
        assert "entrypoint ran" in result.log and result.status.value == "passed", result.log[
            -1500:
        ]
    else:
        assert "entrypoint ran" not in result.log and result.status.value == "failed"


def test_an_old_official_tag_is_graded_with_a_substitute_stand_in(make_plan):
    dockerfile = REFERENCE_DOCKERFILE.replace("FROM node:18-alpine", "FROM node:14.17.3-alpine3.14")
    obs, _, _ = observe(make_plan(dockerfile=dockerfile))
    assert obs.build_ok, obs.build_error
    assert (
        "sandbox: node:14.17.3-alpine3.14 is not available offline: graded with the stand-in "
        "node:18-alpine" in obs.notes
    )


def test_the_build_context_honours_the_dockerignore(make_plan):
    """The starter's .dockerignore keeps secrets/ out of the build context, as docker build
    would: a Dockerfile that reaches for them fails to build."""
    leaky = REFERENCE_DOCKERFILE.replace(
        "USER appuser", "COPY --from=builder /app/secrets/db_password.txt /tmp/pw\nUSER appuser"
    )
    obs, _, _ = observe(make_plan(dockerfile=leaky))
    assert not obs.build_ok and "db_password.txt" in (obs.build_error or "")
    assert obs.canary_hits == []
