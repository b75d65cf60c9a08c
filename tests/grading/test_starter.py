"""The starter project works as what it claims to be: a development set-up whose
`/health` is 200 under its own compose file, answering HEAD like GET, with a
`.dockerignore` that keeps secrets and environment files out of any image."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

STARTER = Path(__file__).resolve().parents[2] / "exercises/assets/docker-production/starter"
NODE = shutil.which("node")


def test_dockerignore_keeps_secrets_env_files_dependencies_and_git_out():
    lines = {
        line.strip()
        for line in (STARTER / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"secrets/", ".env", ".env.*", "node_modules", ".git"} <= lines


def test_development_compose_tells_the_app_where_the_database_is():
    compose = yaml.safe_load((STARTER / "docker-compose.yml").read_text())
    env = dict(item.split("=", 1) for item in compose["services"]["app"]["environment"])
    assert "@db:5432/" in env["DATABASE_URL"]
    assert "db" in compose["services"]["app"]["depends_on"]


def test_development_database_volume_suits_todays_postgres_images():
    """postgres:18 and later refuse a volume at /var/lib/postgresql/data."""
    db = yaml.safe_load((STARTER / "docker-compose.yml").read_text())["services"]["db"]
    targets = [str(v).split(":")[1] for v in db["volumes"]]
    assert targets == ["/var/lib/postgresql"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """The starter app, built and running, with a fake database it can reach."""
    if NODE is None:
        pytest.skip("node is not installed")
    shutil.copytree(STARTER, tmp_path / "app", ignore=shutil.ignore_patterns("node_modules"))
    app = tmp_path / "app"
    subprocess.run([NODE, "scripts/build.js"], cwd=app, check=True, capture_output=True)
    (app / "node_modules").mkdir()
    (app / "node_modules/drydock-health").symlink_to("../dist/drydock-health")
    database = socket.socket()
    database.bind(("127.0.0.1", 0))
    database.listen()
    port = _free_port()
    env = {"PORT": str(port), "DB_HOST": "127.0.0.1", "DB_PORT": str(database.getsockname()[1])}
    process = subprocess.Popen([NODE, "dist/server.js"], cwd=app, env=env, stdout=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield base, database
    finally:
        process.terminate()
        process.wait(timeout=10)
        database.close()


def _answer(url: str, method: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("path", ["/health", "/"])
def test_head_answers_like_get_without_a_body(server, path):
    base, _ = server
    get_status, body = _answer(base + path, "GET")
    head_status, head_body = _answer(base + path, "HEAD")
    assert (get_status, head_status) == (200, 200) and body and head_body == b""


def test_head_health_is_503_when_the_database_is_down(server):
    base, database = server
    database.close()
    assert _answer(base + "/health", "HEAD")[0] == 503
