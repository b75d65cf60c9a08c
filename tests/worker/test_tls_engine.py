"""A worker grades on a remote grading engine over TLS, sharing no directory with it.

The engine is a second instance of `scripts/grading-engine` that also listens on TLS
(client certificates required) inside its network namespace; the test makes the
certificates (a CA, the engine's, the worker's, in separate directories) and reaches the
engine through a relay on the host's loopback, as a worker reaches a grading machine over
the network. The job spec carries bytes, never host paths, so nothing else is needed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from exercises import services
from exercises.grading.types import EngineAddress
from exercises.models import Submission
from tests.exercises.conftest import REFERENCE

from .fixtures import free_port, poll_statuses, unavailable, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.engine, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
NAME = "drydock-tls"
STANDINS = "node:18-alpine node:18 postgres:14-alpine busybox:latest alpine:latest"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(root: Path) -> tuple[Path, Path]:
    """(engine dir, worker dir): a CA signs a server certificate for 127.0.0.1 and a client
    certificate; each side gets only its own key and the CA."""
    ca, engine, worker = root / "ca", root / "engine", root / "worker"
    for directory in (ca, engine, worker):
        directory.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=drydock-test-ca",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=ca)  # fmt: skip
    for side, subject, extensions in (
        (engine, "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        (worker, "/CN=drydock-worker", "extendedKeyUsage=clientAuth\n"),
    ):
        prefix = "server-" if side is engine else ""
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{prefix}key.pem", "-out", "request.csr", cwd=side)  # fmt: skip
        (side / "extensions.cnf").write_text(extensions)
        openssl("x509", "-req", "-in", "request.csr", "-CA", str(ca / "ca.pem"), "-CAkey",
                str(ca / "ca-key.pem"), "-CAcreateserial", "-days", "2", "-extfile",
                "extensions.cnf", "-out", f"{prefix}cert.pem", cwd=side)  # fmt: skip
        shutil.copy(ca / "ca.pem", side / "ca.pem")
    return engine, worker


def script(command: str, **env: str) -> subprocess.CompletedProcess:
    environment = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "DRYDOCK_GRADING_ENGINE_NAME": NAME, "DRYDOCK_GRADING_ENGINE_SIZE": "16G",
                   "DRYDOCK_GRADING_ENGINE_STANDINS": STANDINS, **env}  # fmt: skip
    return subprocess.run([str(REPO / "scripts" / "grading-engine"), command], env=environment,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory):
    if shutil.which("socat") is None or shutil.which("openssl") is None:
        unavailable("socat and openssl are needed (scripts/lib.sh installs them)")
    engine_dir, worker_dir = make_certificates(tmp_path_factory.mktemp("tls"))
    script("stop")
    started = script("start", DRYDOCK_GRADING_ENGINE_TLS_DIR=str(engine_dir))
    if started.returncode != 0:
        unavailable(f"the TLS grading engine did not start: {started.stderr[-1500:]}")
    port = free_port()
    relay = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
         f"EXEC:nsenter --net=/run/netns/{NAME} socat STDIO TCP\\:127.0.0.1\\:2376"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = EngineAddress(url=f"tcp://127.0.0.1:{port}", cert_path=str(worker_dir))
    try:
        yield address
    finally:
        relay.terminate()
        relay.wait(timeout=10)
        script("destroy")


def test_a_worker_grades_the_reference_on_a_remote_engine_over_tls(
    tls_engine, start_celery, transactional_db, django_user_model
):
    from exercises.grading import sandbox

    def answers() -> str | None:  # the relay may still be starting
        try:
            return sandbox.engine_status(tls_engine, timeout=5)
        except sandbox.EngineUnavailable:
            return None

    wait_for(answers, timeout=60, interval=0.5, what="the TLS engine through the relay")
    without_certificate = EngineAddress(url=tls_engine.url)  # plain TCP: refused
    with pytest.raises(sandbox.EngineUnavailable):
        sandbox.engine_status(without_certificate, timeout=5)

    worker = start_celery(
        DRYDOCK_GRADING_ENGINE=tls_engine.url, DRYDOCK_GRADING_ENGINE_CERT_PATH=tls_engine.cert_path
    )
    learner = django_user_model.objects.create_user("tls-learner", password="pw-learner-123")
    exercise = services.exercise_load(slug="docker-production")
    started = time.monotonic()
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
    poll_statuses(submission.pk, until=lambda row: row.status in Submission.FINISHED, timeout=400)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.PASSED, f"{submission.result}\n{worker.tail()}"
    assert (submission.checks_passed, submission.result["mode"]) == (7, "full")
    print(f"graded 7/7 over TLS in {time.monotonic() - started:.1f}s")
