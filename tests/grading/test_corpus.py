"""The corpus: real-world Dockerfile + compose pairs from public Node.js projects and
Docker's documentation (tests/grading/corpus/<name>/, each with its SOURCE.md), graded
against the verdicts written for them from the checklist before the grader ever ran
(expected.yaml). The grader must agree on at least 95% of the checks; the hardened
versions (<name>/hardened/) must pass all seven.

A pair whose expected.yaml says `awaiting:` is refused by today's policy for a reason
issue 11 asks to lift (an external network or secret, capabilities added back after
`cap_drop: [ALL]`): it is reported, and counted once the policy grades it.

`python -m tests.grading.test_corpus [--full]` prints the agreement table.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from exercises.grading.grader import grade_directory
from exercises.grading.types import CHECK_IDS, GradeResult, Status

CORPUS = Path(__file__).parent / "corpus"
NOT_SUBMITTED = {"SOURCE.md", "expected.yaml"}
AGREEMENT_TARGET = 0.95
RUN_TARGET = 0.80
NOT_RUN = "runtime: not confirmed"  # a check whose runtime confirmation never happened


@dataclass
class Pair:
    name: str
    root: Path
    expected: dict[str, bool]
    awaiting: str | None = None

    def files(self, variant: str = "") -> dict[str, bytes]:
        root = self.root / variant if variant else self.root
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
            and p.name not in NOT_SUBMITTED
            and (variant or p.relative_to(root).parts[0] != "hardened")
        }


@dataclass
class Outcome:
    pair: Pair
    result: GradeResult
    agreed: dict[str, bool] = field(default_factory=dict)

    @property
    def graded(self) -> bool:
        return bool(self.result.checks)

    @property
    def ran(self) -> bool:
        lines = [line for c in self.result.checks for line in c.evidence]
        return self.graded and not any(NOT_RUN in line for line in lines)


def corpus_pairs() -> list[Pair]:
    pairs = []
    for root in sorted(p for p in CORPUS.iterdir() if (p / "expected.yaml").is_file()):
        data = yaml.safe_load((root / "expected.yaml").read_text())
        expected = {check: data[check] == "pass" for check in CHECK_IDS}
        pairs.append(Pair(root.name, root, expected, data.get("awaiting")))
    return pairs


def hardened_pairs() -> list[Pair]:
    return [p for p in corpus_pairs() if (p.root / "hardened").is_dir()]


def grade_pair(pair: Pair, variant: str = "", *, static_only: bool = True) -> GradeResult:
    with tempfile.TemporaryDirectory(prefix=f"corpus-{pair.name}-") as scratch:
        directory = Path(scratch) / "submission"
        for name, content in pair.files(variant).items():
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if content.startswith(b"#!"):
                target.chmod(0o755)  # scripts are executable in the authors' repositories
        return grade_directory(directory, static_only=static_only)


def outcomes(*, static_only: bool = True) -> list[Outcome]:
    found = []
    for pair in corpus_pairs():
        result = grade_pair(pair, static_only=static_only)
        outcome = Outcome(pair, result)
        for check in result.checks:
            outcome.agreed[check.id] = check.passed == pair.expected[check.id]
        found.append(outcome)
    return found


def agreement(found: list[Outcome], *, include_awaiting: bool) -> tuple[int, int]:
    agreed = total = 0
    for outcome in found:
        if outcome.pair.awaiting and not outcome.graded and not include_awaiting:
            continue
        total += len(CHECK_IDS)
        agreed += sum(outcome.agreed.get(c, False) for c in CHECK_IDS)
    return agreed, total


def table(found: list[Outcome]) -> str:
    short = ["base", "user", "secu", "lim", "hlth", "env", "tag"]
    lines = [f"{'pair':34} {' '.join(f'{s:>4}' for s in short)}  status"]
    for outcome in found:
        cells = []
        for check in CHECK_IDS:
            want = "P" if outcome.pair.expected[check] else "F"
            if check not in outcome.agreed:
                cells.append(f"{want}/-")
            else:
                cells.append(f"{want}{'' if outcome.agreed[check] else '!'}")
        status = outcome.result.status.value + (
            " (awaiting policy)" if outcome.pair.awaiting else ""
        )
        lines.append(f"{outcome.pair.name:34} {' '.join(f'{c:>4}' for c in cells)}  {status}")
    for include in (False, True):
        agreed, total = agreement(found, include_awaiting=include)
        what = "all pairs" if include else "graded pairs"
        lines.append(f"agreement ({what}): {agreed}/{total} = {agreed / max(total, 1):.1%}")
    lines.append("P/F = expected verdict; ! = the grader disagrees; -/ = not graded")
    return "\n".join(lines)


# --- the quick suite: static grading --------------------------------------------------------


def test_the_corpus_is_real_and_documented():
    pairs = corpus_pairs()
    assert len(pairs) >= 25
    assert len(hardened_pairs()) >= 10
    for pair in pairs:
        source = (pair.root / "SOURCE.md").read_text()
        assert "https://" in source, pair.name
        assert {"Dockerfile", "docker-compose.yml"} <= set(pair.files()), pair.name


@pytest.fixture(scope="module")
def static_outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    scratch = tmp_path_factory.mktemp("corpus-scratch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRYDOCK_SCRATCH_DIR", str(scratch))
        return outcomes()


def test_static_verdicts_agree_with_the_checklist(static_outcomes):
    print("\n" + table(static_outcomes))
    refused = [o.pair.name for o in static_outcomes if not o.graded and not o.pair.awaiting]
    assert refused == [], "pairs the grader could not grade: " + ", ".join(refused)
    agreed, total = agreement(static_outcomes, include_awaiting=False)
    assert agreed / total >= AGREEMENT_TARGET, table(static_outcomes)


@pytest.mark.parametrize("pair", hardened_pairs(), ids=lambda p: p.name)
def test_hardened_versions_pass_all_seven(pair):
    result = grade_pair(pair, "hardened")
    failed = [(c.id, c.summary) for c in result.checks if not c.passed]
    assert result.status == Status.PASSED, failed or result.error or result.policy


# --- full mode, on the engine (run by the lead on the new sandbox) ----------------------------


@pytest.mark.slow
@pytest.mark.engine
@pytest.mark.corpus
@pytest.mark.timeout(3600)
def test_full_mode_builds_runs_and_agrees(request: pytest.FixtureRequest):
    """Twenty-five stacks on the engine (minutes): only when asked for with `-m corpus`."""
    if "corpus" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("full-mode corpus runs only when selected with -m corpus")
    found = outcomes(static_only=False)
    print("\n" + table(found))
    ran = sum(o.ran for o in found)
    assert ran / len(found) >= RUN_TARGET, f"{ran}/{len(found)} ran their whole stack"
    agreed, total = agreement(found, include_awaiting=False)
    assert agreed / total >= AGREEMENT_TARGET


def main(argv: list[str]) -> int:
    found = outcomes(static_only="--full" not in argv)
    print(table(found))
    return 0


if __name__ == "__main__":
    root = Path(tempfile.mkdtemp(prefix="corpus-"))
    try:
        os.environ.setdefault("DRYDOCK_SCRATCH_DIR", str(root))
        sys.exit(main(sys.argv[1:]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
