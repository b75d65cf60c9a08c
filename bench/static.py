"""Static feedback: Drydock's `--static-only` grade against the bare cost of its two tools.

The baseline runs exactly what the grader runs, one after the other: hadolint with the
grader's flags and config on the Dockerfile (stdin), then `docker-compose config --format
json` with the grader's flags, environment and variables on the same project directory the
grader builds (the starter overlaid with the learner's files and the grader's secret files).
Drydock overlaps the two tools, so it can come in under 1.0x.

Runs are interleaved (tools, Drydock, tools, Drydock ...) so that a noisy neighbour slows both.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from exercises.grading import compose as compose_mod
from exercises.grading import dockerfile as dockerfile_mod
from exercises.grading import grader, policy
from exercises.grading.files import COMPOSE_NAMES

from .report import Report, median, ratio

ASSETS = Path(grader.assets_dir("docker-production"))
INPUTS = {"reference": ASSETS / "reference", "starter": ASSETS / "starter"}
TARGET_RATIO = 1.3
TARGET_MS = 300.0


@dataclass
class ToolBaseline:
    """The two tool invocations of one static grading, prepared once and replayed."""

    hadolint: list[str]
    hadolint_stdin: bytes
    hadolint_env: dict[str, str]
    compose: list[str]
    compose_env: dict[str, str]
    cwd: Path

    def run(self) -> tuple[float, float]:
        """(hadolint seconds, compose seconds), run one after the other."""
        started = time.perf_counter()
        _run(self.hadolint, self.hadolint_env, self.cwd, self.hadolint_stdin)
        middle = time.perf_counter()
        _run(self.compose, self.compose_env, self.cwd, None)
        return middle - started, time.perf_counter() - middle


def _run(argv: list[str], env: dict[str, str], cwd: Path, stdin: bytes | None) -> None:
    done = subprocess.run(  # noqa: S603 - the grader's own argv
        argv, input=stdin, capture_output=True, env=env, cwd=cwd, check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.decode()[-300:]}")


def tool_baseline(source: Path, scratch: Path) -> ToolBaseline:
    """The grader's hadolint and compose invocations for the files in `source`."""
    dockerfile = (source / "Dockerfile").read_text()
    compose_name = next(n for n in COMPOSE_NAMES if (source / n).is_file())
    compose_text = (source / compose_name).read_text()
    inputs = policy.sandbox_inputs(
        compose_mod.compose_document(compose_text, compose_name), compose_text,
        texts={"Dockerfile": dockerfile, compose_name: compose_text},
    )  # fmt: skip
    workdir = scratch / "project"
    shutil.copytree(
        ASSETS / "starter", workdir, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("node_modules", "Dockerfile", *COMPOSE_NAMES),
    )  # fmt: skip
    (workdir / "Dockerfile").write_text(dockerfile)
    (workdir / compose_name).write_text(compose_text)
    for name, text in inputs.files.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text)
    home = scratch / "home"
    home.mkdir()
    (home / "hadolint.yaml").write_text("ignored: []\n")
    (home / "empty.env").write_text("")
    hadolint = [
        str(dockerfile_mod.hadolint_binary()), "--config", str(home / "hadolint.yaml"),
        "--disable-ignore-pragma", "--no-fail", "--no-color", "--format", "json",
        "--warning", "DL3057", "-",
    ]  # fmt: skip
    compose = [
        str(compose_mod.compose_binary()), "--project-directory", str(workdir),
        "-f", str(workdir / compose_name), "-p", "drydock-bench", "--env-file",
        str(home / "empty.env"), "--profile", "*", "config", "--format", "json",
    ]  # fmt: skip
    base_env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    return ToolBaseline(
        hadolint=hadolint, hadolint_stdin=dockerfile.encode(), hadolint_env=base_env,
        compose=compose, compose_env={**base_env, "DOCKER_CONFIG": str(home / ".docker"),
                                      **inputs.variables},
        cwd=home,
    )  # fmt: skip


@dataclass
class _Series:
    drydock: list[float] = field(default_factory=list)
    tools: list[float] = field(default_factory=list)
    hadolint: list[float] = field(default_factory=list)
    compose: list[float] = field(default_factory=list)
    status: str = ""


def run(report: Report, *, runs: int, warmup: int = 3) -> None:
    report.section(f"static feedback: in process, {runs} runs after {warmup} warm-up, medians")
    series = {name: _Series() for name in INPUTS}
    with tempfile.TemporaryDirectory(prefix="drydock-bench-static-") as scratch:
        baselines = {}
        for name, source in INPUTS.items():
            (Path(scratch) / name).mkdir()
            baselines[name] = tool_baseline(source, Path(scratch) / name)
        steps: list[Callable[[bool], None]] = []
        for name, source in INPUTS.items():
            steps.append(_tools_step(baselines[name], series[name]))
            steps.append(_drydock_step(source, series[name]))
        for index in range(warmup + runs):
            for step in steps:
                step(index >= warmup)
    worst = None
    for name, data in series.items():
        drydock_ms = median(data.drydock) * 1000
        tools_ms = median(data.tools) * 1000
        rel = ratio(drydock_ms, tools_ms)
        report.figure(
            f"static_ms_{name}", drydock_ms, "ms", f"grade {name} --static-only: {data.status}"
        )
        report.figure(f"tools_ms_{name}", tools_ms, "ms",
                      f"hadolint {median(data.hadolint) * 1000:.0f} ms + docker-compose config "
                      f"{median(data.compose) * 1000:.0f} ms, sequential")  # fmt: skip
        report.figure(f"static_vs_tools_{name}", rel, "x")
        report.target(
            f"static_{name}",
            rel <= TARGET_RATIO and drydock_ms < TARGET_MS,
            f"<= {TARGET_RATIO}x tools and < {TARGET_MS:.0f} ms",
        )
        if worst is None or rel > worst[2]:
            worst = (name, drydock_ms, rel)
    assert worst is not None
    report.figure(
        "static_ms", worst[1], "ms", f"the slower of the two, relative to its tools: {worst[0]}"
    )
    report.figure("static_vs_tools", worst[2], "x")


def _tools_step(baseline: ToolBaseline, data: _Series) -> Callable[[bool], None]:
    def step(record: bool) -> None:
        hadolint_s, compose_s = baseline.run()
        if record:
            data.hadolint.append(hadolint_s)
            data.compose.append(compose_s)
            data.tools.append(hadolint_s + compose_s)

    return step


def _drydock_step(source: Path, data: _Series) -> Callable[[bool], None]:
    def step(record: bool) -> None:
        started = time.perf_counter()
        result = grader.grade_directory(source, static_only=True)
        elapsed = time.perf_counter() - started
        if result.status.value == "error":
            raise RuntimeError(f"static grading of {source} failed: {result.error}")
        data.status = result.status.value
        if record:
            data.drydock.append(elapsed)

    return step
