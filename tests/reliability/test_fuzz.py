"""Property-based tests (Hypothesis) of the Dockerfile and compose analysers: random files,
and the lecture's own files mutated, thousands of them. Zero unhandled exceptions: an
analyser either returns or raises `GradingError` (a learner-facing message); the whole
static grading always ends passed/failed/rejected/error, an error with a message, and
never the grader's "internal error" (that is an exception it caught: a crash).

A crash does not stop a test at once: it is recorded with its input, so the figure counts
every input tried; the test fails at the end with the first crashing inputs. Inputs come
from a fixed seed (`derandomize`), so CI sees the same thousands every run. The number per
test comes from the Hypothesis profile: DRYDOCK_FUZZ_PROFILE=reliability (default) or quick.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exercises.grading import grader
from exercises.grading.compose import ComposeConfig, compose_document, interpolate_tree
from exercises.grading.dockerfile import dockerfile_parse, external_sources, final_image
from exercises.grading.files import Submission
from exercises.grading.policy import raw_violations, referenced_files, sandbox_inputs
from exercises.grading.rules import Analysis, extensions, static_checks
from exercises.grading.types import GradingError

from .figures import FIGURES
from .support import DC, DF, REFERENCE, REPO, assert_well_formed

COUNTS = {  # examples per test: (reliability, quick)
    "dockerfile": (2000, 200),
    "compose": (3000, 200),
    "pipeline": (300, 30),
    "upload": (300, 30),
}
PROFILE = os.environ.get("DRYDOCK_FUZZ_PROFILE", "reliability")
for _name, _index in (("reliability", 0), ("quick", 1)):
    settings.register_profile(
        f"drydock-{_name}", deadline=None, derandomize=True, database=None, print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
    )  # fmt: skip


def examples(kind: str) -> int:
    return COUNTS[kind][0 if PROFILE == "reliability" else 1]


def fuzz_settings(kind: str) -> Callable:
    return settings(settings.get_profile(f"drydock-{PROFILE}"), max_examples=examples(kind))


# --- seeds: the lecture's files ---------------------------------------------------------------

ASSETS = REPO / "exercises" / "assets" / "docker-production"
LESSONS = REPO / "course" / "content" / "docker-in-production" / "lessons"
_BLOCK = re.compile(r"```(dockerfile|yaml)\n(.*?)```", re.S)


def _lecture_blocks(language: str) -> list[str]:
    return [body for path in sorted(LESSONS.glob("*.md"))
            for lang, body in _BLOCK.findall(path.read_text()) if lang == language]  # fmt: skip


DOCKERFILE_SEEDS = [
    REFERENCE[DF], (ASSETS / "starter" / "Dockerfile").read_text(), *_lecture_blocks("dockerfile"),
]  # fmt: skip
COMPOSE_SEEDS = [
    REFERENCE[DC], (ASSETS / "starter" / "docker-compose.yml").read_text(), *_lecture_blocks("yaml"),
]  # fmt: skip

# Fragments that stress the parsers' corners, spliced in by the mutations.
DOCKERFILE_FRAGMENTS = [
    "\\", "\\\n", "# escape=`", "# syntax=docker/dockerfile:1", "ARG", "ARG X", "ARG BASE=node:18",
    "FROM", "FROM $BASE", "FROM ${BASE:-node:18} AS b", "FROM b AS b", "FROM 0", "FROM scratch",
    "FROM --platform=$BUILDPLATFORM node:18", "COPY --from=", "COPY --from=b / /", "COPY --from=9 a b",
    "ADD", "ADD http://x/ /", 'ADD ["a", "b"]', "ADD [", "RUN <<EOF\necho\nEOF", "RUN <<-'E'\n\tx\n\tE",
    "RUN <<EOF", "ONBUILD", "ONBUILD ONBUILD RUN x", "ONBUILD ADD $U /u", "USER", "USER 0:0",
    "USER ${U:?err}", "ENV", "ENV A", "ENV A=", 'ENV A="unterminated', "ENV A=$A$A$A",
    "HEALTHCHECK", "HEALTHCHECK NONE", "HEALTHCHECK --interval= CMD", 'CMD ["', "CMD []",
    'ENTRYPOINT ["a", 1]', "WORKDIR", "WORKDIR ../../..", "EXPOSE 99999999999", "SHELL [",
    "LABEL a", "STOPSIGNAL", "MAINTAINER", "${", "$$", "${A:-${B:-${C}}}", "\t", "\r\n", "\x00",
    "é", "\u202e", "\ufeff", "🐳",
]  # fmt: skip
COMPOSE_FRAGMENTS = [
    "services:", "services: {}", "services: []", "  app:", "  app: null", "    build: .",
    "    build: {context: ..}", "    image:", "    image: ${REGISTRY_URL}/x:${VERSION}",
    "    image: ${X:?unset}", "    environment:", "      - A", "      - =", "      A: ${A:-${B}}",
    "    volumes:", "      - .:/app", "      - ${HOME:-/}:/h", "      - type: bind", "    ports:",
    "      - '99999:1'", "    deploy:", "      resources:", "        limits: {memory: -1, cpus: x}",
    "    healthcheck: {test: 1}", "    healthcheck:", "      test: []", "    depends_on: [app]",
    "    depends_on: {db: {condition: nonsense}}", "    extends: app", "    extends: {file: x.yml}",
    "    secrets: [1]", "    env_file: [{path: null}]", "    user: 0", "    privileged: 'yes'",
    "    cap_add: [null]", "    networks: {a: {aliases: 1}}", "include: [null]", "include: 1",
    "volumes: {a: {external: {name: x}}}", "secrets: {s: {file: 1}}", "x-a: &a {privileged: true}",
    "    <<: *a", "    <<: [*a, *a]", "*undefined", "&a [*a]", "!!python/object:os.system", "!!binary x",
    "? [a, b]\n: c", "{", "[", "'", '"', "- ", ": ", "---", "...", "%YAML 1.1", "\t", "@", "`",
    "~", "0x10", ".inf", "2001-01-01", "é", "\u2028", "🐳", "\x00",
]  # fmt: skip


@st.composite
def mutated(draw, seeds: list[str], fragments: list[str], max_ops: int = 8) -> str:
    """A seed file with 1-`max_ops` line-level mutations (delete, duplicate, swap, splice a
    fragment, insert random text, re-indent, truncate, change a character)."""
    lines = draw(st.sampled_from(seeds)).split("\n")
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["delete", "dup", "swap", "fragment", "fragment", "text",
                                   "indent", "truncate", "char"]))  # fmt: skip
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "dup" and lines:
            lines.insert(i, lines[i])
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "fragment":
            lines.insert(i, draw(st.sampled_from(fragments)))
        elif op == "text":
            lines.insert(i, draw(st.text(max_size=40)))
        elif op == "indent" and lines:
            lines[i] = " " * draw(st.integers(0, 9)) + lines[i].lstrip()
        elif op == "truncate":
            lines = lines[: i + 1]
            if lines:
                lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
        elif op == "char" and lines and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.characters()) + lines[i][k + 1 :]
    return "\n".join(lines)


def files_of(fragments: list[str], seeds: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        mutated(seeds, fragments),
        mutated(seeds, fragments),
        mutated(seeds, fragments),
        st.text(max_size=600),
        st.lists(st.sampled_from(fragments), max_size=30).map("\n".join),
    )


_KEYS = ["services", "app", "db", "build", "image", "volumes", "environment", "deploy",
         "resources", "limits", "healthcheck", "test", "secrets", "file", "include", "extends",
         "networks", "external", "depends_on", "env_file", "user", "ports", "x-a"]  # fmt: skip
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**40), st.floats(allow_nan=False),
                     st.sampled_from(["..", "/", "${X}", "$$", ".:/app", "node:18", "512M", ""]),
                     st.text(max_size=12))  # fmt: skip
compose_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), children,
                        max_size=5),
    ),
    max_leaves=40,
)  # fmt: skip


# --- crash bookkeeping ------------------------------------------------------------------------


class Crashes:
    def __init__(self, kind: str) -> None:
        self.kind, self.inputs, self.found = kind, 0, []

    def run(self, body: Callable[[], Any], sample: Any) -> None:
        self.inputs += 1
        try:
            body()
        except GradingError as error:
            assert str(error).strip(), "a GradingError without a message"
        except Exception:  # noqa: BLE001 - this is what the test counts
            self.found.append((repr(sample)[:600], traceback.format_exc(limit=6)))

    def report(self, what: str) -> None:
        FIGURES.fuzz(inputs=self.inputs, crashes=len(self.found))
        FIGURES.line(f"fuzz {self.kind}: {self.inputs} inputs to {what}, {len(self.found)} crashes")
        assert not self.found, "\n\n".join(f"input: {i}\n{t}" for i, t in self.found[:3])


@pytest.fixture(scope="module")
def reference_config(tmp_path_factory) -> dict[str, Any]:
    """Docker Compose's normalised form of the reference answer (what the rules read)."""
    workdir = tmp_path_factory.mktemp("reference-config")
    home = tmp_path_factory.mktemp("reference-home")
    for name, text in REFERENCE.items():
        (workdir / name).write_text(text)
    document = compose_document(REFERENCE[DC], DC)
    inputs = sandbox_inputs(document, REFERENCE[DC], texts=REFERENCE)
    for name, text in inputs.files.items():
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_text(text)
    config, _ = ComposeConfig(workdir=workdir, compose_name=DC, project="fuzz",
                              variables=inputs.variables, home=home).result()  # fmt: skip
    return {"config": config, "workdir": workdir, "raw": document["services"]}


# --- the properties ---------------------------------------------------------------------------


def test_dockerfile_analysis_never_crashes(reference_config):
    crashes = Crashes("dockerfile")
    workdir = Path(reference_config["workdir"])

    @fuzz_settings("dockerfile")
    @given(text=files_of(DOCKERFILE_FRAGMENTS, DOCKERFILE_SEEDS),
           args=st.dictionaries(st.sampled_from(["BASE", "U", "X", "NODE_ENV"]),
                                st.text(max_size=20), max_size=2))  # fmt: skip
    def check(text: str, args: dict[str, str]) -> None:
        def analyse() -> None:
            parsed = dockerfile_parse(text)
            external_sources(parsed, args)
            final = final_image(parsed, None, args)
            submission = Submission(
                files={DF: text.encode("utf-8", "surrogatepass"), DC: REFERENCE[DC].encode()},
                dockerfile=DF, compose=DC,
            )  # fmt: skip
            analysis = Analysis(
                submission=submission, dockerfile=parsed, dockerfile_name=DF, final=final,
                build_args=args, raw_services=reference_config["raw"],
                config=reference_config["config"], app="app", db="db", workdir=workdir,
            )  # fmt: skip
            results = static_checks(analysis)
            assert [r.id for r in results] and all(r.summary for r in results)
            extensions(analysis)

        crashes.run(analyse, text)

    check()
    crashes.report("dockerfile_parse, final_image, external_sources and the seven static rules")


def test_compose_analysis_never_crashes():
    crashes = Crashes("compose")

    @fuzz_settings("compose")
    @given(text=st.one_of(files_of(COMPOSE_FRAGMENTS, COMPOSE_SEEDS),
                          compose_trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True))))  # fmt: skip
    def check(text: str) -> None:
        def analyse() -> None:
            document = compose_document(text, DC)
            inputs = sandbox_inputs(document, text, texts={DC: text})
            for found in (raw_violations(inputs.document, base=""),
                          raw_violations(document, base="sub")):  # fmt: skip
                assert all(v.rule and v.detail for v in found)
            referenced_files(inputs.document, base="")
            interpolate_tree(document, inputs.variables)

        crashes.run(analyse, text)

    check()
    crashes.report("yaml_load, sandbox_inputs, raw_violations and referenced_files")


def test_static_grading_of_mutated_files_never_crashes():
    crashes = Crashes("pipeline")
    statuses: dict[str, int] = {}

    @fuzz_settings("pipeline")
    @given(dockerfile=st.one_of(st.just(REFERENCE[DF]), mutated(DOCKERFILE_SEEDS, DOCKERFILE_FRAGMENTS, 2),
                                files_of(DOCKERFILE_FRAGMENTS, DOCKERFILE_SEEDS)),
           compose=st.one_of(mutated(COMPOSE_SEEDS, COMPOSE_FRAGMENTS, 1),
                             mutated(COMPOSE_SEEDS, COMPOSE_FRAGMENTS, 2),
                             files_of(COMPOSE_FRAGMENTS, COMPOSE_SEEDS)))  # fmt: skip
    def check(dockerfile: str, compose: str) -> None:
        files = {DF: dockerfile.encode("utf-8", "surrogatepass"),
                 DC: compose.encode("utf-8", "surrogatepass")}  # fmt: skip

        def grade() -> None:
            result = grader.grade_files(files, static_only=True)
            assert_well_formed(result)
            assert not (result.error or "").startswith(grader.UNEXPECTED.split("{")[0]), (
                result.error
            )
            statuses[result.status.value] = statuses.get(result.status.value, 0) + 1

        crashes.run(grade, files)

    check()
    shown = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    crashes.report(f"grade_files(static_only=True) ({shown})")


_names = st.one_of(
    st.sampled_from([DF, DC, "compose.yaml", ".dockerignore", ".env", "secrets/db_password.txt",
                     "../x", "/etc/passwd", "a/../../b", "a\\b", ".git/config", "", ".", "x" * 300,
                     "a/" * 12 + "x", "nul\x00name", "é.txt"]),
    st.text(max_size=30),
)  # fmt: skip


def test_uploaded_names_and_bytes_never_crash():
    crashes = Crashes("upload")

    @fuzz_settings("upload")
    @given(extra=st.dictionaries(_names, st.binary(max_size=300), max_size=4),
           drop=st.sampled_from([None, DF, DC]))  # fmt: skip
    def check(extra: dict[str, bytes], drop: str | None) -> None:
        files = {k: v.encode() for k, v in REFERENCE.items() if k != drop} | extra

        def grade() -> None:
            result = grader.grade_files(files, static_only=True)
            assert_well_formed(result)
            assert not (result.error or "").startswith(grader.UNEXPECTED.split("{")[0]), (
                result.error
            )

        crashes.run(grade, files)

    check()
    crashes.report("grade_files with random names and bytes")
