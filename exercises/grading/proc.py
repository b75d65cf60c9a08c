"""Run Drydock's external tools (hadolint, Docker Compose) in a clean, killable process.

A tool gets only the environment we hand it, its own process group and a deadline: on
timeout the whole group is killed, so a wedged tool (or one a hostile file sent into a
spin) cannot outlive the grading job. `ToolRun` starts at once and is collected later,
which is how the grader runs hadolint and `docker-compose config` side by side.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_BYTES = 8 * 1024 * 1024  # a tool printing more than this is misbehaving


@dataclass
class ToolResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class ToolRun:
    """A started tool process; `result()` waits for it (once) under its deadline."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        timeout_s: float,
        stdin: bytes | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._stdin = stdin
        self._result: ToolResult | None = None
        self._proc = subprocess.Popen(  # noqa: S603 - argv is ours, never a shell
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group, so killpg reaches any children
        )

    def result(self) -> ToolResult:
        if self._result is None:
            self._result = self._collect()
        return self._result

    def kill(self) -> None:
        """Stop the tool if it still runs (the caller no longer needs its answer)."""
        if self._result is not None:
            return
        if self._proc.poll() is None:
            self._killpg()
        out, err = self._proc.communicate()
        self._result = ToolResult(self._proc.returncode, _text(out), _text(err))

    def _collect(self) -> ToolResult:
        try:
            out, err = self._proc.communicate(self._stdin, timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            self._killpg()
            out, err = self._proc.communicate()
            return ToolResult(-signal.SIGKILL, _text(out), _text(err), timed_out=True)
        return ToolResult(self._proc.returncode, _text(out), _text(err))

    def _killpg(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"")[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace")
