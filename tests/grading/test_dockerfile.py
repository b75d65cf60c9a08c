"""Dockerfile parsing and what the final image inherits."""

from __future__ import annotations

import pytest

from exercises.grading.dockerfile import (
    Hadolint,
    dockerfile_parse,
    env_pairs,
    exec_or_shell,
    final_image,
)
from exercises.grading.types import GradingError


def final(text: str, target: str | None = None, **build_args: str):
    return final_image(dockerfile_parse(text), target, build_args)


def test_continuations_comments_and_escape_directive():
    image = final(
        "# escape=`\nFROM node:18-alpine\nRUN apk add `\n  # a comment inside\n\n  curl\nUSER node\n"
    )
    run = next(i for i in image.instructions if i.keyword == "RUN")
    assert run.args.split() == ["apk", "add", "curl"] and run.line == 3
    assert image.user_value == "node"


def test_global_args_feed_from_and_build_args_override_them():
    text = "ARG NODE_VERSION=18\nARG VARIANT=alpine\nFROM node:${NODE_VERSION}-${VARIANT} AS base\n"
    assert final(text).base.text == "node:18-alpine"
    assert final(text, NODE_VERSION="20").base.text == "node:20-alpine"
    assert final(text, UNDECLARED="x").base.text == "node:18-alpine"


def test_stage_aliases_are_followed_and_inherit_env_user_and_healthcheck():
    image = final(
        "FROM node:18-alpine AS Base\nENV NODE_ENV=production\nUSER node\nHEALTHCHECK CMD true\n"
        "FROM base AS final\nARG PORT=3000\nENV PORT=$PORT\n"
    )
    assert image.base.text == "node:18-alpine" and len(image.base.chain) == 2
    assert image.env == {"NODE_ENV": "production", "PORT": "3000"}
    assert image.user_value == "node" and image.healthcheck is not None


def test_arg_scope_ends_with_its_stage():
    image = final("FROM alpine:3 AS a\nARG UID=1000\nFROM a\nUSER ${UID}\n")
    assert image.user_value == ""


def test_global_arg_redeclared_in_stage_keeps_its_default():
    assert final("ARG UID=1001\nFROM alpine:3\nARG UID\nUSER $UID\n").user_value == "1001"


def test_target_selects_the_final_stage():
    text = "FROM node:18 AS dev\nFROM node:18-alpine AS prod\n"
    assert final(text, target="dev").base.text == "node:18"
    with pytest.raises(GradingError, match="not a stage"):
        final(text, target="nope")


def test_heredoc_is_not_special_text_after_it_is_an_instruction():
    """The engine's builder has no heredocs: `<<EOF` is a word and the next line an instruction."""
    image = final("FROM alpine:3\nRUN cat <<EOF\nUSER 1000\n")
    assert image.instructions[0].args == "cat <<EOF"
    assert image.user_value == "1000"


def test_from_takes_one_or_three_words():
    for text in ("FROM a b\n", "FROM a AS\n", "FROM a FOR b\n", "FROM\n"):
        with pytest.raises(GradingError, match="FROM needs an image"):
            dockerfile_parse(text)


@pytest.mark.parametrize(
    ("args", "pairs"),
    [
        ("NODE_ENV production", {"NODE_ENV": "production"}),
        ('A=1 B="two words" C=x\\ y', {"A": "1", "B": "two words", "C": "x y"}),
        ("MSG hello world", {"MSG": "hello world"}),
    ],
)
def test_env_forms(args, pairs):
    assert env_pairs(args) == pairs


def test_exec_or_shell():
    assert exec_or_shell('["node", "x.js"]') == ["node", "x.js"]
    assert exec_or_shell("npm run dev") == ["/bin/sh", "-c", "npm run dev"]


def test_hadolint_runs_with_pragmas_disabled_and_dl3057_enabled():
    findings, problem = Hadolint("FROM node:18\n# hadolint ignore=DL3002\nUSER root\n").result()
    assert problem is None
    assert {"DL3002", "DL3057"} <= {f.code for f in findings}
