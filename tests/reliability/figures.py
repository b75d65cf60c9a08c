"""The reliability figures: collected while the suite runs, printed one per line at the end.

Tests mark what they prove with `pytest.mark.figure("hostile" | "fault" | "load")`: a
figure's count is how many of its tests passed, out of how many were collected, so a test
that fails or is skipped can never be counted as contained. Tests add their own lines
(`FIGURES.line(...)`) and measured values (`FIGURES.fuzz(...)`, `FIGURES.load(...)`,
`FIGURES.leaks(...)`). The JSON artifact is what `scripts/reliability` prints from
(`python -m tests.reliability.figures <artifact>`), so that the summary is the last line.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "test-artifacts" / "reliability.json"
LOAD_JOBS = 12
CATEGORIES = ("hostile", "fault", "load")


@dataclass
class Figures:
    collected: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    passed: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    failed: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    lines: list[str] = field(default_factory=list)
    fuzz_inputs: int = 0
    fuzz_crashes: int = 0
    load_graded: int | None = None
    load_total: int = LOAD_JOBS
    leak_count: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self.lines.append(" ".join(text.split()))

    def fuzz(self, *, inputs: int, crashes: int) -> None:
        with self._lock:
            self.fuzz_inputs += inputs
            self.fuzz_crashes += crashes

    def load(self, *, graded: int, total: int) -> None:
        self.load_graded, self.load_total = graded, total

    def leaks(self, count: int) -> None:
        self.leak_count = count

    def outcome(self, category: str, nodeid: str, ok: bool) -> None:
        with self._lock:
            target = self.passed if ok else self.failed
            if nodeid not in self.failed[category] and nodeid not in target[category]:
                target[category].append(nodeid)
            if not ok and nodeid in self.passed[category]:  # a failing teardown undoes a pass
                self.passed[category].remove(nodeid)

    def summary(self) -> str:
        def count(category: str) -> str:
            return f"{len(self.passed[category])}/{len(self.collected[category])}"

        load = f"{self.load_graded if self.load_graded is not None else 0}/{self.load_total}"
        leaks = "?" if self.leak_count is None else str(self.leak_count)
        return (
            f"reliability: hostile {count('hostile')} contained, faults {count('fault')} survived, "
            f"load {load} graded, fuzz {self.fuzz_inputs} inputs {self.fuzz_crashes} crashes, "
            f"leaks {leaks}"
        )

    def report(self) -> list[str]:
        failed = [f"FAILED {category}: {nodeid}" for category in CATEGORIES
                  for nodeid in self.failed[category]]  # fmt: skip
        return [*self.lines, *failed, self.summary()]

    def save(self, path: Path = ARTIFACT) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["summary"] = self.summary()
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load_file(cls, path: Path = ARTIFACT) -> Figures:
        data = json.loads(path.read_text())
        data.pop("summary", None)
        return cls(**data)


FIGURES = Figures()


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else ARTIFACT
    if not path.exists():
        print(f"reliability: no figures at {path} (the suite did not run)")
        return 1
    for text in Figures.load_file(path).report():
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
