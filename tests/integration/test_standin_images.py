"""The local stand-in base images (docker/standins/build) behave like the real ones the
lecture's Dockerfiles and compose files are written for: node:18-alpine takes the
production Dockerfile unchanged (addgroup/adduser, USER, busybox wget healthcheck, offline
`npm ci` with a local tarball dependency), postgres:*-alpine honours POSTGRES_PASSWORD_FILE
and is ready within seconds, and the alpine image is much smaller than node:18.

Needs a running engine (scripts/start-engine) and the images (docker/standins/build).
Everything the tests create carries `org.drydock.test=1` and is removed afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.machinery
import importlib.util
import io
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker
import psycopg
import pytest

pytestmark = [pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "docker" / "standins" / "build"
TEST_LABEL = "org.drydock.test"
RUN_LABEL = "org.drydock.test.run"
RUN_ID = uuid.uuid4().hex[:12]
LABELS = {TEST_LABEL: "1", RUN_LABEL: RUN_ID}


def standin_tags() -> list[str]:
    """The tag list, read from the build script itself (single source of truth)."""
    loader = importlib.machinery.SourceFileLoader("drydock_standins_build", str(BUILD_SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep the tree clean
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return list(module.IMAGES)


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


def engine_session():
    """A client for the engine; afterwards, remove everything this test run made.

    A plain generator, so that every stand-in test module can wrap it in its own fixture.
    """
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no engine here"
        pytest.skip(f"Docker engine unreachable ({error}); run scripts/start-engine")
    yield c
    # remove everything this module made (containers first, then images incl. the
    # untagged intermediates of multi-stage builds, which carry the run label too)
    label = {"label": f"{RUN_LABEL}={RUN_ID}"}
    for container in c.containers.list(all=True, filters=label):
        container.remove(force=True, v=True)
    for _ in range(3):  # children before parents
        images = c.images.list(all=True, filters=label)
        if not images:
            break
        for image in images:
            with contextlib.suppress(docker.errors.APIError):
                c.images.remove(image.id, force=True, noprune=False)
    for volume in c.volumes.list(filters=label):
        volume.remove(force=True)
    c.close()


@pytest.fixture(scope="module")
def client():
    yield from engine_session()


def standin_images(client) -> dict:
    """Every stand-in tag the build script knows, as docker images (all must exist)."""
    tags = standin_tags()
    found, missing = {}, []
    for tag in tags:
        try:
            found[tag] = client.images.get(tag)
        except docker.errors.ImageNotFound:
            missing.append(tag)
    assert not missing, f"stand-in images missing: {missing} (run docker/standins/build)"
    return found


@pytest.fixture(scope="module")
def images(client) -> dict:
    return standin_images(client)


def run_container(client, image, **kwargs):
    """Start a labelled, detached container; the module finalizer removes it."""
    return client.containers.run(image, detach=True, labels=LABELS, **kwargs)


def wait_until(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def tarball(files: dict[str, bytes | str], mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(raw), mode, 1_700_000_000
            tf.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


# The lecture's production pattern: multi-stage, offline `npm ci` of a lock file with a local
# tarball dependency, Alpine-style addgroup/adduser with fixed ids, USER, wget healthcheck.
# Every stage carries the run label so that the intermediates can be found and removed.
PROD_DOCKERFILE = f"""\
FROM node:18-alpine AS builder
LABEL {TEST_LABEL}=1 {RUN_LABEL}={RUN_ID}
WORKDIR /app
COPY package*.json ./
COPY vendor ./vendor
RUN npm ci
COPY server.js ./

FROM node:18-alpine
LABEL {TEST_LABEL}=1 {RUN_LABEL}={RUN_ID}
RUN apk add --no-cache libc6-compat
RUN addgroup -g 1001 -S appgroup && \\
    adduser -u 1001 -G appgroup -s /bin/sh -D appuser
WORKDIR /app
COPY --from=builder --chown=appuser:appgroup /app ./
USER appuser
ENV NODE_ENV=production
EXPOSE 3000
HEALTHCHECK --interval=1s --timeout=3s --retries=5 \\
  CMD wget --no-verbose --tries=1 --spider http://localhost:3000/health || exit 1
CMD ["node", "server.js"]
"""

SERVER_JS = """\
const http = require('http');
const tiny = require('tiny-dep');
http.createServer((req, res) => {
  if (req.url === '/health') { res.writeHead(200); return res.end('ok ' + tiny() + '\\n'); }
  res.writeHead(404); res.end('nope\\n');
}).listen(3000, '0.0.0.0', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
"""


@pytest.fixture(scope="module")
def prod_image(client, images, tmp_path_factory):
    ctx = tmp_path_factory.mktemp("prod-app")
    dep = tarball(
        {
            "package/package.json": '{"name": "tiny-dep", "version": "1.0.0", "main": "index.js"}\n',
            "package/index.js": "module.exports = () => 'tiny';\n",
        }
    )
    (ctx / "vendor").mkdir()
    (ctx / "vendor" / "tiny-dep-1.0.0.tgz").write_bytes(dep)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(dep).digest()).decode()
    (ctx / "package.json").write_text(
        '{"name": "app", "version": "1.0.0", "private": true,\n'
        ' "dependencies": {"tiny-dep": "file:vendor/tiny-dep-1.0.0.tgz"}}\n'
    )
    (ctx / "package-lock.json").write_text(f"""{{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {{
    "": {{
      "name": "app",
      "version": "1.0.0",
      "dependencies": {{"tiny-dep": "file:vendor/tiny-dep-1.0.0.tgz"}}
    }},
    "node_modules/tiny-dep": {{
      "version": "1.0.0",
      "resolved": "file:vendor/tiny-dep-1.0.0.tgz",
      "integrity": "{integrity}"
    }}
  }}
}}
""")
    (ctx / "server.js").write_text(SERVER_JS)
    (ctx / "Dockerfile").write_text(PROD_DOCKERFILE)
    tag = f"drydock-test-standin-prod:{RUN_ID}"
    # network_mode none: `npm ci` must work offline
    image, _ = client.images.build(
        path=str(ctx), tag=tag, labels=LABELS, network_mode="none", rm=True, forcerm=True
    )
    return image


# --------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------


def test_every_standin_tag_exists_and_is_labelled(images):
    for tag, image in images.items():
        labels = image.labels or {}
        assert labels.get("org.drydock.standin") == "1", tag
        assert labels.get("org.drydock.standin.recipe"), tag
        assert labels.get("org.drydock.standin.for") == tag, tag


def test_production_alpine_dockerfile_runs_as_appuser(client, prod_image):
    out = (
        client.containers.run(
            prod_image.id,
            ["sh", "-c", "id -u; id -un; id -gn; stat -c '%U %a' $HOME; pwd"],
            labels=LABELS,
            remove=True,
            network_mode="none",
        )
        .decode()
        .split("\n")
    )
    assert out[:5] == ["1001", "appuser", "appgroup", "appuser 2755", "/app"], out


def test_npm_ci_offline_installed_the_tarball_dependency(client, prod_image):
    out = client.containers.run(
        prod_image.id,
        [
            "node",
            "-e",
            "console.log(require('tiny-dep')(), require('tiny-dep/package.json').version)",
        ],
        labels=LABELS,
        remove=True,
        network_mode="none",
    )
    assert out.decode().strip() == "tiny 1.0.0"


def test_busybox_wget_spider_healthcheck(client, prod_image):
    container = run_container(client, prod_image.id)

    def health():
        container.reload()
        return container.attrs["State"].get("Health", {}).get("Status") == "healthy"

    assert wait_until(health, timeout=20), container.logs().decode()[-2000:]
    ok = container.exec_run(
        ["wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]
    )
    assert ok.exit_code == 0, ok.output
    missing = container.exec_run(
        ["wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/does-not-exist"]
    )
    assert missing.exit_code != 0
    closed = container.exec_run(["wget", "-q", "--spider", "http://localhost:3999/"])
    assert closed.exit_code != 0
    container.stop(timeout=5)


def test_alpine_user_tools_and_apk_shim(client, images):
    script = (
        "set -e; adduser -D plain; addgroup -S grp; adduser -S -G grp svc; "
        "id -u plain; id -gn svc; test -d /home/plain; "
        "grep -q '^plain:' /etc/shadow; grep -q '^svc:x:.*:/sbin/nologin$' /etc/passwd; "
        "su -s /bin/sh plain -c 'id -un'; "
        "apk add --no-cache libc6-compat bash >/dev/null 2>&1 && echo apk-noop-ok; "
        "apk add --no-cache surely-not-a-package-xyz >/dev/null 2>&1 || echo apk-fails-clearly"
    )
    out = (
        client.containers.run(
            "node:18-alpine", ["sh", "-c", script], labels=LABELS, remove=True, network_mode="none"
        )
        .decode()
        .split()
    )
    # uid 1000 is the image's own `node` user, as in the real node:*-alpine images
    assert out == ["1001", "grp", "plain", "apk-noop-ok", "apk-fails-clearly"], out


def test_postgres_password_file_ready_within_seconds(client, images, tmp_path):
    secret = tmp_path / "db_password"
    secret.write_text("s3cret-pw\n")  # trailing newline is stripped, like the real image
    secret.chmod(0o644)
    started = time.monotonic()
    container = run_container(
        client,
        "postgres:14-alpine",
        command=["postgres", "-c", "max_connections=42"],
        environment={
            "POSTGRES_USER": "app",
            "POSTGRES_DB": "appdb",
            "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
        },
        volumes={str(secret): {"bind": "/run/secrets/db_password", "mode": "ro"}},
        ports={"5432/tcp": ("127.0.0.1", None)},
    )

    def ready() -> bool:
        # TCP, so the temporary init server (unix socket only) doesn't count
        return container.exec_run(["pg_isready", "-U", "app", "-h", "127.0.0.1"]).exit_code == 0

    assert wait_until(ready, timeout=15), container.logs().decode()[-3000:]
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"postgres took {elapsed:.1f}s to accept connections"
    assert container.exec_run(["pg_isready", "-U", "app"]).exit_code == 0

    container.reload()
    port = int(container.ports["5432/tcp"][0]["HostPort"])
    dsn = f"host=127.0.0.1 port={port} dbname=appdb user=app connect_timeout=5"
    with psycopg.connect(dsn + " password=s3cret-pw") as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), current_setting('max_connections')"
        ).fetchone()
    assert row == ("app", "appdb", "42")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn + " password=wrong").close()

    # STOPSIGNAL SIGINT: a fast, clean shutdown
    t0 = time.monotonic()
    container.stop(timeout=10)
    container.reload()
    assert container.attrs["State"]["ExitCode"] == 0
    assert time.monotonic() - t0 < 5
    assert "database system is shut down" in container.logs().decode()


def test_postgres_refuses_to_init_without_password(client, images):
    container = run_container(client, "postgres:16-alpine")
    assert container.wait(timeout=30)["StatusCode"] == 1
    assert "superuser password is not specified" in container.logs().decode()


def test_alpine_is_much_smaller_than_full_node(images):
    full = images["node:18"].attrs["Size"]
    alpine = images["node:18-alpine"].attrs["Size"]
    assert alpine < 0.4 * full, f"node:18-alpine {alpine / 1e6:.0f}MB vs node:18 {full / 1e6:.0f}MB"
