"""Submissions that cannot be graded: `status: error` with one clear line, never a traceback."""

from __future__ import annotations

import os
import time
import tracemalloc

import pytest

from exercises.grading import compose as compose_module
from exercises.grading import files as files_module
from exercises.grading.compose import yaml_load
from exercises.grading.grader import grade_directory, grade_files
from exercises.grading.types import GradingError, Status

from .support import replaced

DF, DC = "Dockerfile", "docker-compose.yml"


def billion_laughs(levels: int = 12, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "services:\n  app:\n    image: x:1\n" + "\n".join(lines) + "\n"


def assert_error(result, *fragments: str) -> None:
    assert result.status == Status.ERROR, (result.status, result.error, result.policy)
    assert result.error and "\n" not in result.error and "Traceback" not in result.error
    for fragment in fragments:
        assert fragment in result.error
    assert result.checks == [] and result.score == 0


def test_missing_dockerfile(grade, reference):
    assert_error(grade({DC: reference[DC]}), files_module.NO_DOCKERFILE)


def test_missing_compose_file(grade, reference):
    assert_error(
        grade({DF: reference[DF], "docker-compose.prod.yml": reference[DC]}),
        files_module.NO_COMPOSE,
    )


def test_missing_directory(tmp_path):
    assert_error(grade_directory(tmp_path / "nope", static_only=True), "There is no directory")


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  app:\n    image: [unclosed\n",
        "services:\n\tapp: {}\n",
        ": : :\n",
        "services: !!python/object:os.system x\n",
    ],
    ids=["unclosed", "tab", "colons", "python-tag"],
)
def test_yaml_that_does_not_parse(grade, reference, text):
    assert_error(grade({**reference, DC: text}), "docker-compose.yml is not valid YAML")


def test_yaml_that_is_not_a_mapping(grade, reference):
    assert_error(grade({**reference, DC: "- just\n- a list\n"}), "must be a YAML mapping")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("services:\n  app:\n    image: 1\n", "services.app.image must be a string"),
        (
            "services:\n  app:\n    image: x:1\n    colour: blue\n",
            "additional properties 'colour' not allowed",
        ),
        ("services:\n  app:\n    build: .\n    depends_on: [ghost]\n", "ghost"),
    ],
    ids=["image-int", "unknown-key", "unknown-dependency"],
)
def test_compose_file_docker_compose_rejects(grade, reference, text, fragment):
    result = grade({**reference, DC: text})
    assert_error(result, "Docker Compose rejects docker-compose.yml", fragment)
    assert "/" + "tmp" not in result.error  # scratch paths are not shown to the learner


def test_file_over_256_kib(grade, reference):
    padding = "# " + "x" * 200 + "\n"
    big = reference[DF] + padding * (256 * 1024 // len(padding) + 1)
    assert_error(grade({**reference, DF: big}), "Dockerfile is larger than 256 KiB")


@pytest.mark.parametrize(
    "content",
    [b"FROM node:18-alpine\n\x00\x01\x02", b"\xff\xfe\xfaFROM", bytes(range(256))],
    ids=["nul", "latin1", "all-bytes"],
)
def test_binary_content(grade, reference, content):
    assert_error(
        grade({**reference, "extra/tool.bin": content}), "extra/tool.bin is not a text file"
    )


def test_too_many_files(grade, reference):
    many = {f"notes/{i}.txt": "x" for i in range(files_module.MAX_FILES + 1)}
    assert_error(grade({**reference, **many}), "more than")


def test_fifo_is_not_read(submit, reference):
    directory = submit(reference)
    os.mkfifo(directory / "pipe")
    assert_error(grade_directory(directory, static_only=True), "pipe is not a regular file")


def test_alias_bomb_is_rejected_fast_with_bounded_memory(grade, reference):
    tracemalloc.start()
    started = time.monotonic()
    result = grade({**reference, DC: billion_laughs()})  # 10^12 nodes if expanded
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_error(result, "alias bomb")
    assert elapsed < 2.0
    assert peak < 50 * 1024 * 1024


def test_alias_bomb_never_reaches_docker_compose(grade, reference, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("docker-compose saw the bomb")

    monkeypatch.setattr(compose_module.ComposeConfig, "__init__", refuse)
    assert_error(grade({**reference, DC: billion_laughs()}), "alias bomb")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: &a [*a]\n", "refers to itself"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "nested more than"),
        ("a: " + "{b: " * 100 + "1" + "}" * 100 + "\n", "nested more than"),
    ],
    ids=["recursive", "deep-lists", "deep-maps"],
)
def test_pathological_yaml(text, fragment):
    with pytest.raises(GradingError, match=fragment):
        yaml_load(text, "compose.yaml")


def test_anchors_and_merge_keys_in_normal_use_are_fine(grade, reference):
    compose = (
        "x-limits: &limits\n  resources:\n    limits: {cpus: '0.5', memory: 256M}\n" + reference[DC]
    )
    compose = compose.replace(
        "    deploy:\n      resources:\n        limits:\n          cpus: '1.0'\n          memory: 1G\n",
        "    deploy: *limits\n",
    )
    assert grade({**reference, DC: compose}).status == Status.PASSED


@pytest.mark.parametrize(
    ("dockerfile", "fragment"),
    [
        ("FRM node:18-alpine\n", "line 1: unknown instruction FRM"),
        ("# nothing but comments\n", "no FROM"),
        ("RUN echo hi\nFROM node:18-alpine\n", "only ARG may come before the first FROM"),
    ],
)
def test_dockerfile_docker_would_refuse(grade, reference, dockerfile, fragment):
    assert_error(grade({**reference, DF: dockerfile}), fragment)


def test_unknown_build_target(grade, reference):
    files = replaced(
        reference, DC, "  app:\n", "  app:\n    build:\n      context: .\n      target: nope\n"
    )
    assert_error(grade(files), "target 'nope'")


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "", "a/../../b", ".git/config"])
def test_uploaded_names_must_stay_inside(reference, name):
    assert_error(
        grade_files(
            {**{k: v.encode() for k, v in reference.items()}, name: b"x"}, static_only=True
        ),
        "not a valid file name",
    )


def test_uploaded_oversized_file_is_refused_before_writing(reference, scratch_dir):
    files = {k: v.encode() for k, v in reference.items()}
    result = grade_files({**files, "big.txt": b"x" * (300 * 1024)}, static_only=True)
    assert_error(result, "big.txt is larger than 256 KiB")
    assert list(scratch_dir.iterdir()) == []


def test_git_metadata_is_skipped(submit, reference):
    directory = submit({**reference, ".git": "gitdir: ../elsewhere\n", "sub/.git/HEAD": "ref\n"})
    assert grade_directory(directory, static_only=True).status == Status.PASSED


def test_control_characters_in_names(reference):
    files = {**{k: v.encode() for k, v in reference.items()}, "bad\nname.txt": b"x"}
    assert_error(grade_files(files, static_only=True), "not a valid file name")


def test_learner_file_clashing_with_a_secret_folder(grade, reference):
    assert_error(grade({**reference, "secrets": "not a folder\n"}), "clashes with")


def test_uploaded_names_that_clash(reference, scratch_dir):
    files = {**{k: v.encode() for k, v in reference.items()}, "conf": b"x", "conf/app.yaml": b"y"}
    assert_error(grade_files(files, static_only=True), "clashes with")
    assert list(scratch_dir.iterdir()) == []
