"""The sandbox policy: rejections (before Docker Compose sees anything), normalisation, inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exercises.grading import compose as compose_module
from exercises.grading.compose import compose_document
from exercises.grading.grader import grade_directory
from exercises.grading.policy import sandbox_inputs, sandbox_normalise
from exercises.grading.types import SandboxLimits, Status

from .support import evidence, replaced

DF, DC = "Dockerfile", "docker-compose.yml"

APP = """services:
  app:
    build: .
    image: myapp:1.0.0
{extra}
"""


def app_with(extra: str) -> str:
    return APP.format(extra="\n".join("    " + line for line in extra.strip("\n").splitlines()))


REJECTIONS = [
    ("privileged", "privileged: true"),
    ("privileged", "privileged: yes"),
    ("host-namespace", "network_mode: host"),
    ("host-namespace", "pid: host"),
    ("host-namespace", "ipc: host"),
    ("host-namespace", "uts: host"),
    ("host-namespace", "userns_mode: host"),
    ("host-namespace", "cgroup: host"),
    ("host-namespace", 'network_mode: "container:some-other-container"'),
    ("devices", 'devices: ["/dev/sda:/dev/sda"]'),
    ("devices", "gpus: all"),
    ("sysctls", "sysctls:\n  net.core.somaxconn: 1024"),
    ("security-opt", "security_opt: [seccomp=unconfined]"),
    ("security-opt", "security_opt: ['apparmor:unconfined']"),
    ("security-opt", "security_opt: [label=disable]"),
    ("security-opt", "security_opt: ['label:disable']"),
    ("bind-mount", "volumes: [/var/run/docker.sock:/var/run/docker.sock]"),
    ("bind-mount", "volumes: ['/:/host']"),
    ("bind-mount", "volumes: ['../..:/up']"),
    ("bind-mount", "volumes: ['~/.ssh:/root/.ssh']"),
    ("bind-mount", "volumes:\n  - type: bind\n    source: /etc\n    target: /host-etc"),
    ("bind-mount", "volumes: ['${HOME:-/}:/host']"),
    ("bind-mount", "volumes: ['./ok/../../../etc:/x']"),
    ("volumes-from", "volumes_from: ['container:other']"),
    ("path", "env_file: ../../etc/passwd"),
    ("path", "env_file: [{path: /etc/environment, required: false}]"),
    ("path", "build:\n  context: ..\n"),
    ("path", "build:\n  context: .\n  dockerfile: ../../Dockerfile"),
    ("remote", "build: https://github.com/evil/repo.git#main"),
    ("remote", "build: git@github.com:evil/repo.git"),
    ("path", "build:\n  context: .\n  additional_contexts:\n    extra: /opt"),
    ("build", "build:\n  context: .\n  network: host"),
    ("build", "build:\n  context: .\n  ssh: [default]"),
    ("path", "extends:\n  file: /etc/compose.yml\n  service: base"),
    ("remote", "extends:\n  file: https://evil.example/compose.yml\n  service: base"),
    ("docker-socket", "use_api_socket: true"),
    ("path", "label_file: /etc/passwd"),
    ("devices", "blkio_config:\n  device_read_bps:\n    - {path: /dev/sda, rate: 1mb}"),
]


@pytest.mark.parametrize(
    ("rule", "extra"), REJECTIONS, ids=[f"{r}:{e.splitlines()[0]}" for r, e in REJECTIONS]
)
def test_rejected_service_settings(grade, reference, rule, extra, monkeypatch):
    seen = []
    monkeypatch.setattr(compose_module.ComposeConfig, "__init__", lambda *a, **k: seen.append(a))
    result = grade({**reference, DC: app_with(extra)})
    assert result.status == Status.REJECTED, (result.status, result.error, result.policy)
    assert rule in [v.rule for v in result.policy], result.policy
    assert result.checks == [] and result.score == 0
    assert seen == []  # Docker Compose never saw the file


@pytest.mark.parametrize(
    ("rule", "top_level"),
    [
        ("external", "configs:\n  conf:\n    external: true"),
        ("external", "configs:\n  conf:\n    external:\n      name: prod-conf"),
        ("path", "secrets:\n  shadow:\n    file: /etc/shadow"),
        ("path", "configs:\n  conf:\n    file: ../../etc/hosts"),
        ("path", "include:\n  - ../other/compose.yaml"),
        ("remote", "include:\n  - oci://registry.example.com/evil:latest"),
        ("path", "include:\n  - path: ./sub.yaml\n    env_file: /etc/environment"),
    ],
)
def test_rejected_top_level_settings(grade, reference, rule, top_level):
    result = grade({**reference, DC: app_with("") + top_level + "\n", "sub.yaml": "services: {}\n"})
    assert result.status == Status.REJECTED, (result.error, result.policy)
    assert rule in [v.rule for v in result.policy]


def test_an_external_network_is_graded_with_one_the_sandbox_creates(grade, reference):
    compose = app_with("networks: [outside]") + "networks:\n  outside:\n    external: true\n"
    result = grade({**reference, DC: compose})
    assert result.status != Status.REJECTED, result.policy
    assert "network outside is external" in evidence(result, "security-practices")
    assert "the sandbox creates it for the job" in evidence(result, "security-practices")


@pytest.mark.parametrize(
    ("kind", "declared", "used"),
    [
        ("volume", "volumes:\n  data:\n    external: true", "volumes: ['data:/data']"),
        ("volume", "volumes:\n  data:\n    external:\n      name: prod-data", "volumes: [data:/d]"),
        ("volume", "volumes:\n  data:\n    external: true\n    name: /", "volumes: [data:/d]"),
        ("secret", "secrets:\n  key:\n    external: true", "secrets: [key]"),
        ("secret", "secrets:\n  key:\n    external: true\n    name: prod_key", "secrets: [key]"),
    ],
)
def test_external_volumes_and_secrets_are_graded_with_a_stand_in(
    grade, reference, kind, declared, used
):
    result = grade({**reference, DC: app_with(used) + declared + "\n"})
    assert result.status != Status.REJECTED, result.policy
    shown = "\n".join(e for c in result.checks for e in c.evidence)
    name = "data" if kind == "volume" else "key"
    assert f"sandbox: {kind} {name} is external" in shown
    expected = (
        "creates an empty one for the job" if kind == "volume" else "supplies a generated value"
    )
    assert expected in shown


@pytest.mark.parametrize("cap", ["SYS_ADMIN", "CAP_NET_ADMIN", "dac_read_search", "ALL"])
def test_a_capability_beyond_dockers_defaults_is_graded_not_granted(grade, reference, cap):
    result = grade({**reference, DC: app_with(f"cap_add: [{cap}]")})
    assert result.status == Status.FAILED, (result.status, result.policy)
    security = evidence(result, "security-practices")
    assert "beyond what Docker grants by default" in security
    assert f"cap_add {cap} is ignored" in security


def test_rejection_also_with_static_only_and_exit_code(grade, reference):
    result = grade({**reference, DC: app_with("privileged: true")})
    assert result.status == Status.REJECTED and result.mode == "static"
    assert result.to_json()["policy"] == [
        {"rule": "privileged", "detail": "service app runs privileged"}
    ]


def test_included_file_is_policed_too(grade, reference):
    files = {
        **reference,
        DC: reference[DC] + "include:\n  - extra/monitoring.yaml\n",
        "extra/monitoring.yaml": "services:\n  agent:\n    image: agent:1.0\n    privileged: true\n",
    }
    result = grade(files)
    assert result.status == Status.REJECTED
    assert result.policy[0].detail == "service agent runs privileged"


def test_extended_file_is_policed_too(grade, reference):
    files = {
        **reference,
        DC: app_with("extends:\n  file: base.yaml\n  service: base"),
        "base.yaml": "services:\n  base:\n    image: x:1\n    volumes: ['/:/host']\n",
    }
    assert grade(files).status == Status.REJECTED


def test_symlink_pointing_outside_is_rejected(submit, reference, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    directory = submit(reference)
    os.symlink(outside, directory / "leak.txt")
    result = grade_directory(directory, static_only=True)
    assert result.status == Status.REJECTED
    assert result.policy[0].rule == "symlink"


def test_symlink_inside_the_submission_is_read(submit, reference):
    directory = submit({**reference, "real.dockerignore": "secrets\n"})
    os.symlink("real.dockerignore", directory / ".dockerignore")
    assert grade_directory(directory, static_only=True).status == Status.PASSED


@pytest.mark.parametrize(
    "extra",
    [
        "cap_add: [NET_BIND_SERVICE]",
        "cap_drop: [ALL]\ncap_add: [CHOWN, DAC_OVERRIDE, FOWNER, SETGID, SETUID]",
        "volumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro', 'data:/data']",
        "security_opt: ['no-new-privileges:true']",
        "env_file: [{path: ./optional.env, required: false}]",
        "network_mode: bridge",
    ],
)
def test_allowed_service_settings(grade, reference, extra):
    compose = app_with(extra) + "volumes:\n  data: {}\n"
    result = grade({**reference, DC: compose, "nginx.conf": "events {}\n"})
    assert result.status in (Status.PASSED, Status.FAILED), (result.error, result.policy)


# --- sandbox normalisation --------------------------------------------------------------------


def test_reference_normalisation_notes(grade, reference):
    result = grade(reference)
    assert result.status == Status.PASSED
    notes = [e for c in result.checks for e in c.evidence if e.startswith("sandbox:")]
    assert any("publishes no ports (3000:3000)" in n for n in notes)
    assert any("bind device /mnt/data/postgres is redirected" in n for n in notes)
    assert any("secret file ./secrets/db_password.txt" in n for n in notes)
    assert any(n.startswith("sandbox: the grader supplies") and "DB_URL" in n for n in notes)


def test_container_name_and_large_limits_are_normalised(grade, reference):
    files = replaced(
        reference,
        DC,
        "          cpus: '1.0'\n          memory: 1G",
        "          cpus: '4'\n          memory: 8G",
    )
    files = replaced(
        files, DC, "  db:\n    image:", "  db:\n    container_name: prod-db\n    image:"
    )
    result = grade(files)
    assert result.status == Status.PASSED
    assert "clamped to the sandbox maximum" in evidence(result, "resource-limits")
    assert "container_name prod-db" in evidence(result, "environment-config")


def normalised_for(text: str, tmp_path: Path, limits: SandboxLimits | None = None):
    config = {"services": {}, "volumes": {}, "networks": {}}
    config.update(compose_document(text, "c.yml"))
    return sandbox_normalise(
        config, project="drydock-x", limits=limits or SandboxLimits(), volume_root=tmp_path
    )


def test_normalise_drops_ports_names_and_redirects_bind_devices(tmp_path):
    normalised = normalised_for(
        """services:
  db:
    image: postgres:14
    container_name: db
    ports: [{target: 5432, published: "5432"}]
    deploy: {replicas: 3, resources: {limits: {memory: "4294967296", cpus: 8}}}
    logging: {driver: syslog, options: {syslog-address: "tcp://10.0.0.1:514", max-size: 10m}}
volumes:
  pgdata:
    name: shared-prod-volume
    driver_opts: {type: none, o: bind, device: /mnt/data/postgres}
networks:
  back:
    driver: macvlan
    ipam: {config: [{subnet: 10.9.0.0/16}]}
""",
        tmp_path,
    )
    db = normalised.services["db"]
    assert "ports" not in db and "container_name" not in db
    assert db["deploy"]["replicas"] == 1
    assert db["deploy"]["resources"]["limits"] == {"memory": str(1024**3), "cpus": 1.0}
    assert db["logging"] == {"driver": "json-file", "options": {"max-size": "10m"}}
    volume = normalised.volumes["pgdata"]
    assert volume["name"] == "drydock-x_pgdata"
    assert volume["driver_opts"] == {
        "type": "none",
        "o": "bind",
        "device": str(tmp_path / "pgdata"),
    }
    assert normalised.networks["back"] == {"name": "drydock-x_back"}
    assert all(text.startswith("sandbox: ") for _, text in normalised.notes)
    assert len(normalised.notes) == 10


# --- what the grader supplies -----------------------------------------------------------------


def inputs_for(text: str, **texts: str):
    return sandbox_inputs(compose_document(text, "c.yml"), text, texts={"c.yml": text, **texts})


def test_db_url_uses_the_password_of_the_database_secret_file(reference):
    inputs = inputs_for(reference[DC])
    password = inputs.files["secrets/db_password.txt"]
    assert inputs.variables["DB_URL"] == f"postgres://drydock:{password}@db:5432/drydock"
    assert inputs.variables["DB_PASSWORD"] == password
    assert inputs.files["secrets/app_secret.txt"] != password
    assert set(inputs.canaries) >= {password, inputs.files["secrets/app_secret.txt"]}
    assert len(set(inputs.canaries)) == len(inputs.canaries)


def test_db_password_variable_gets_the_same_canary():
    inputs = inputs_for(
        """services:
  database:
    image: postgres:15
    environment:
      POSTGRES_USER: ${POSTGRES_USER}
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
"""
    )
    password = inputs.variables["POSTGRES_PASSWORD"]
    assert password in inputs.canaries
    assert (
        inputs.variables["DATABASE_URL"] == f"postgres://drydock:{password}@database:5432/drydock"
    )


def test_literal_db_credentials_are_used_so_the_app_can_connect():
    inputs = inputs_for(
        "services:\n  db:\n    image: postgres:15\n    environment: [POSTGRES_USER=dev, POSTGRES_PASSWORD=devpw, POSTGRES_DB=devdb]\n"
    )
    assert inputs.variables["DB_URL"] == "postgres://dev:devpw@db:5432/devdb"


def test_db_credentials_from_a_submitted_env_file():
    text = "services:\n  db:\n    image: postgres:15\n    env_file: .env.db\n"
    inputs = inputs_for(text, **{".env.db": "POSTGRES_USER=app\nPOSTGRES_PASSWORD='pw 1'\n"})
    assert inputs.variables["DB_URL"] == "postgres://app:pw%201@db:5432/app"
    assert ".env.db" not in inputs.files


def test_missing_env_file_is_supplied_without_node_env():
    inputs = inputs_for("services:\n  app:\n    image: a:1\n    env_file: [.env.production]\n")
    content = inputs.files[".env.production"]
    assert "DATABASE_URL=postgres://" in content and "NODE_ENV" not in content
    assert any(".env.production" in note for note in inputs.notes)


def test_unknown_variables_are_guessed_from_their_names():
    inputs = inputs_for(
        "services:\n  app:\n    image: ${IMAGE_REPO}:${APP_VERSION}\n    environment:\n"
        "      - STRIPE_API_KEY=${STRIPE_API_KEY}\n      - PORT=${APP_PORT}\n"
        "      - DATABASE_URL=${POSTGRES_URL}\n      - X=${WITH_DEFAULT:-kept}\n"
    )
    assert inputs.variables["APP_VERSION"] == "1.4.2"
    assert inputs.variables["STRIPE_API_KEY"] in inputs.canaries
    assert inputs.variables["APP_PORT"] == "3000"
    assert inputs.variables["POSTGRES_URL"] == inputs.variables["DB_URL"]
    assert "WITH_DEFAULT" not in inputs.variables
    assert any("IMAGE_REPO is not supplied" in note for note in inputs.notes)


def test_learner_dotenv_decides_the_tag_judgement(grade, reference):
    files = replaced(reference, DC, "${VERSION}-${BUILD_NUMBER}", "${TAG}")
    result = grade({**files, ".env": "TAG=1.2.3\n"})
    assert "resolves to registry.drydock.test/myapp:1.2.3" in evidence(result, "tagging-strategy")


def test_too_many_services_are_refused(grade, reference):
    services = "".join(f"  s{i}:\n    image: busybox:1.36\n" for i in range(13))
    result = grade({**reference, DC: "services:\n" + services})
    assert result.status == Status.REJECTED
    assert result.policy[0].rule == "too-many"


def test_build_context_elsewhere_is_a_sandbox_note(grade, reference):
    files = replaced(reference, DC, "  app:\n", "  app:\n    build: ./app\n")
    result = grade(files)
    assert result.status == Status.PASSED
    assert "not ./app" in evidence(result, "environment-config")
