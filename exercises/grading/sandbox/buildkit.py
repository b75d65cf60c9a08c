"""BuildKit builds, for the Dockerfiles that need it (Docker's default builder since 2023).

docker-py speaks only the classic builder's API, and the classic builder refuses
`RUN --mount=type=cache|bind|secret` ("requires BuildKit") and `FROM --platform=$BUILDPLATFORM`.
The engine (20.10) embeds BuildKit, which its own CLI (Debian docker.io, `/usr/bin/docker`)
drives with `DOCKER_BUILDKIT=1`; `# syntax=` and heredocs need a frontend image and stay
unsupported offline. So a Dockerfile that uses BuildKit features is built here through that
CLI, on the same grading engine (its address and TLS certificates, never `DOCKER_HOST`'s),
with the context as a tar stream on stdin, `--network none`, the job's labels and the wall
clock limit (the CLI is killed, which cancels the build in the daemon). Per-step memory and
pids limits of the classic builder do not exist here: the grading engine's own cgroup caps
every build (see scripts/grading-engine).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from ..types import ProgressCallback, ProjectFile, SandboxLimits, Stage, no_progress
from .client import TailBuffer, address_of
from .files import context_files, tar_bytes
from .outcome import BuildOutcome

# What only BuildKit understands (the classic builder fails on it).
_NEEDS_BUILDKIT = re.compile(
    r"^\s*(?:RUN|COPY|ADD)\b[^\n]*--(?:mount|link|chmod|checksum)\b"
    r"|^\s*FROM\b[^\n]*--platform\s*=\s*\$\{?(?:BUILD|TARGET)PLATFORM",
    re.IGNORECASE | re.MULTILINE,
)
# `# syntax=docker/dockerfile:1…` asks BuildKit to pull that frontend image, impossible offline;
# the engine's built-in frontend understands the same Dockerfile (heredocs aside).
_SYNTAX = re.compile(
    r"\A((?:[ \t]*#[^\n]*\n)*?)[ \t]*#[ \t]*syntax[ \t]*=[ \t]*(?:docker\.io/)?docker/dockerfile(?::1[\w.-]*)?[ \t]*\n",
    re.I,
)
SYNTAX_NOTE = "sandbox: the `# syntax=` line was ignored: the engine's built-in Dockerfile frontend is used (no image can be pulled)"
CLI_CANDIDATES = ("/usr/bin/docker",)  # the engine's own CLI (20.10): it drives BuildKit
NO_CLI = "BuildKit is not available in the sandbox (the engine's docker CLI is missing)"


def needs_buildkit(dockerfile: str) -> bool:
    return bool(
        _NEEDS_BUILDKIT.search(dockerfile)
        or _SYNTAX.search(dockerfile)
        or _workdir_after_user(dockerfile)
    )


def _workdir_after_user(dockerfile: str) -> bool:
    """A WORKDIR after a non-root USER in the same stage: BuildKit (Docker's default builder)
    creates that directory owned by the user, the classic builder by root, so `USER node`,
    `WORKDIR /home/node/app`, `RUN npm ci` only builds the way the learner's Docker builds it
    with BuildKit."""
    user = False
    for line in dockerfile.splitlines():
        words = line.split(None, 1)
        keyword = words[0].upper() if words else ""
        if keyword == "FROM":
            user = False
        elif keyword == "USER":
            who = words[1].strip() if len(words) > 1 else ""
            user = who.split(":")[0] not in ("", "root", "0")
        elif keyword == "WORKDIR" and user:
            return True
    return False


def without_syntax_line(
    files: Mapping[str, ProjectFile], dockerfile: str
) -> tuple[dict[str, ProjectFile], bool]:
    """The context with the Dockerfile's official `# syntax=` directive commented out."""
    entry = files.get(dockerfile)
    if entry is None:
        return dict(files), False
    text = entry.content.decode("utf-8", "replace")
    replaced = _SYNTAX.sub(
        lambda m: m.group(1) + "# (syntax directive ignored offline)\n", text, count=1
    )
    if replaced == text:
        return dict(files), False
    return {**files, dockerfile: ProjectFile(replaced.encode(), entry.mode)}, True


def cli() -> str | None:
    return next((path for path in CLI_CANDIDATES if os.access(path, os.X_OK)), None)


def buildkit_build(
    client,
    *,
    context: Mapping[str, ProjectFile],
    dockerfile: str,
    tag: str,
    labels: dict[str, str],
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
    what: str = "image",
):
    """Build with BuildKit; the same `BuildOutcome` as the classic `build_image`."""
    started = time.monotonic()
    buffer = TailBuffer(limits.log_bytes)
    context, stripped = without_syntax_line(context, dockerfile)
    if stripped:
        buffer.add(SYNTAX_NOTE + "\n")
    binary = cli()
    if binary is None:
        return BuildOutcome(ok=False, error=NO_CLI, log="", duration_ms=0)
    address = address_of(client)
    home = tempfile.mkdtemp(prefix="drydock-buildkit-")
    iidfile = os.path.join(home, "iid")
    argv = [binary, "-H", address.url]
    if address.cert_path:
        argv += ["--tlsverify", "--tlscacert", os.path.join(address.cert_path, "ca.pem"),
                 "--tlscert", os.path.join(address.cert_path, "cert.pem"),
                 "--tlskey", os.path.join(address.cert_path, "key.pem")]  # fmt: skip
    argv += ["build", "--progress", "plain", "-f", dockerfile, "-t", tag, "--iidfile", iidfile]
    if not limits.build_network:
        argv += ["--network", "none"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in (buildargs or {}).items():
        argv += ["--build-arg", f"{key}={value}"]
    if target:
        argv += ["--target", target]
    argv.append("-")
    environment = {"PATH": "/usr/bin:/bin", "HOME": home, "DOCKER_BUILDKIT": "1",
                   "DOCKER_CONFIG": home}  # fmt: skip
    timed_out = False
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=environment,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        feeder = threading.Thread(
            target=_feed, args=(process.stdin, tar_bytes(context_files(context, "", dockerfile))),
            daemon=True,
        )  # fmt: skip
        feeder.start()
        timer = threading.Timer(limits.build_timeout_s, process.kill)
        timer.start()
        try:
            for raw in process.stdout:
                text = raw.decode("utf-8", "replace")
                buffer.add(text)
                progress(Stage.BUILDING, f"building {what}", text)
            process.wait()
        finally:
            timed_out = not timer.is_alive() and process.returncode not in (0, None)
            timer.cancel()
        image_id = Path(iidfile).read_text().strip() if os.path.exists(iidfile) else None
    finally:
        shutil.rmtree(home, ignore_errors=True)
    error = None
    if timed_out:
        error = (
            f"build timed out after {limits.build_timeout_s}s (the sandbox limit); last output: "
            + (" | ".join(buffer.last_lines(3)))
        )
    elif process.returncode != 0 or not image_id:
        lines = [line for line in buffer.last_lines(6) if line.strip()]
        error = "the build failed (BuildKit): " + " | ".join(lines[-3:])
    return BuildOutcome(
        ok=error is None, image_id=image_id if error is None else None,
        error=error[:600] if error else None, log=buffer.text(),
        duration_ms=int((time.monotonic() - started) * 1000), timed_out=timed_out,
    )  # fmt: skip


def _feed(stdin, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the CLI may exit (a bad Dockerfile) before reading all
        stdin.write(data)
    with contextlib.suppress(OSError):
        stdin.close()
