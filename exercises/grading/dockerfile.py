"""Read a Dockerfile: what the final image inherits, and what the engine would fetch by
itself while building it.

Three layers: `dockerfile_syntax` splits the text into instructions exactly as the engine's
parser does; `dockerfile_stages` groups them into stages and resolves each FROM (ARGs,
stage aliases); this module evaluates the final image (ARG scoping, ENV, USER, WORKDIR
through the stages it inherits) and lists the images and URLs a build would make the daemon
fetch (`external_sources`). It is also the one import for all three; hadolint's findings
are evidence beside the rules (`hadolint.py`).
"""

from __future__ import annotations

import os
import re
from collections import ChainMap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .dockerfile_stages import (  # noqa: F401 (re-exported: the grader's and checks' imports)
    BAD_FROM,
    BEFORE_FROM,
    NO_FROM,
    VALUE_MAX,
    Dockerfile,
    ResolvedBase,
    Stage,
    StageChain,
    arg_pairs,
    dockerfile_parse,
    env_pairs,
    exec_or_shell,
    expand_value,
    resolve_base,
    stage_links,
    stages_from,
    words,
)
from .dockerfile_syntax import (
    Instruction,
    dockerfile_lex,
    go_lstrip,
    reading_differs,
    split_list,
    unquote,
)
from .hadolint import Finding, Hadolint, hadolint_binary  # noqa: F401 (the grader's imports)
from .types import GradingError

UNKNOWN_TARGET = (
    "The compose file builds target {target!r}, which is not a stage of the Dockerfile."
)


@dataclass
class FinalImage:
    """What the final image carries, evaluated through its chain of stages."""

    stage: Stage
    base: ResolvedBase
    instructions: list[Instruction]  # inherited stages first
    env: dict[str, str]
    user: Instruction | None
    user_value: str
    healthcheck: Instruction | None
    cmd: Instruction | None
    entrypoint: Instruction | None
    workdir: str


def final_stage(dockerfile: Dockerfile, target: str | None) -> Stage:
    if not target:
        return dockerfile.stages[-1]
    stage = dockerfile.stage(target)
    if stage is None:
        raise GradingError(UNKNOWN_TARGET.format(target=target))
    return stage


def final_image(
    dockerfile: Dockerfile, target: str | None, build_args: Mapping[str, str]
) -> FinalImage:
    stage = final_stage(dockerfile, target)
    base = resolve_base(dockerfile, stage, build_args)
    env: dict[str, str] = {}
    user = healthcheck = cmd = entrypoint = None
    user_value, workdir = "", "/"
    for instruction, scope in _with_arg_scope(dockerfile, base.chain, build_args):
        keyword = instruction.keyword
        if keyword == "ENV":
            for key, value in env_pairs(instruction.args).items():
                env[key] = expand_value(value, ChainMap(env, scope))
        elif keyword == "USER":
            user = instruction
            user_value = expand_value(instruction.args.strip(), ChainMap(env, scope))
        elif keyword == "HEALTHCHECK":
            healthcheck = instruction
        elif keyword == "CMD":
            cmd = instruction
        elif keyword == "ENTRYPOINT":
            entrypoint = instruction
        elif keyword == "WORKDIR":
            path = expand_value(instruction.args.strip(), ChainMap(env, scope))
            workdir = os.path.normpath(os.path.join(workdir, path))
    instructions = [i for s in reversed(base.chain) for i in s.instructions]
    return FinalImage(
        stage, base, instructions, env, user, user_value, healthcheck, cmd, entrypoint, workdir
    )


def _with_arg_scope(
    dockerfile: Dockerfile, chain: list[Stage], build_args: Mapping[str, str]
) -> Iterator[tuple[Instruction, dict[str, str]]]:
    """Each inherited instruction with the ARG values visible to it (ARGs end with their stage).

    The scope is one live dict, valid until the next step: a snapshot per ARG would make a
    file of many ARGs quadratic.
    """
    for stage in reversed(chain):
        scope: dict[str, str] = {}
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                for key, value in arg_pairs(instruction.args).items():
                    default = value if value is not None else dockerfile.global_args.get(key)
                    resolved = build_args.get(key, default)
                    if resolved is not None:
                        scope[key] = expand_value(resolved, scope)
            yield instruction, scope


# --- what the engine fetches by itself ------------------------------------------------------

# A URL ADD downloads, or a git repository it clones: any scheme, scp-like `user@host:path`,
# and the forge shorthands BuildKit's git detection accepts.
_REMOTE = re.compile(
    r"([a-z][a-z0-9+.-]*:/|[\w.+-]+@[\w.-]+:|(github\.com|gitlab\.com|bitbucket\.org)/)", re.I
)
_MAYBE_REMOTE = re.compile(r"[:@$]|github|gitlab|bitbucket", re.I)
_QUOTES_AND_ESCAPES = str.maketrans("", "", "\"'\\`")


@dataclass(frozen=True)
class ExternalSource:
    """Something the engine itself fetches while building, outside the build's network
    sandbox: an image (FROM, COPY --from, RUN --mount from=) or a URL (ADD)."""

    line: int
    what: str  # "FROM", "COPY --from", "RUN --mount from", "ADD"
    ref: str


def external_sources(
    dockerfile: Dockerfile, build_args: Mapping[str, str]
) -> tuple[list[ExternalSource], list[ExternalSource]]:
    """(images, urls) that building this Dockerfile makes the engine fetch by itself.

    `--network none` only confines RUN steps: the daemon pulls a missing FROM or COPY --from
    image, and downloads ADD URLs, from its own network. Values are expanded the way the
    builder expands them (ARGs, build args, ENV); ONBUILD triggers count as if they ran in
    their own stage. Every word of an ADD is looked at (sources, destination and flag
    values), quoted or not, expanded or not. And the file is read again the ways a parser
    that disagreed with the engine's would read it (the other escape character, a line
    continued after any white space), and whatever those readings find is added: the
    check does not rest on this parser being right about a corner of the syntax.
    """
    images, urls = _sources(dockerfile, build_args)
    for reading in _other_readings(dockerfile):
        more_images, more_urls = _sources(reading, build_args)
        images += [source for source in more_images if source not in images]
        urls += [source for source in more_urls if source not in urls]
    return images, urls


def _other_readings(dockerfile: Dockerfile) -> Iterator[Dockerfile]:
    for escape in ("\\", "`"):
        for loose in (False, True):
            if not dockerfile.text or not reading_differs(
                dockerfile.text, escape=escape, loose=loose, real_escape=dockerfile.escape
            ):
                continue  # the same instructions: nothing new to find
            try:
                lexed = dockerfile_lex(dockerfile.text, escape=escape, loose=loose)
                yield stages_from(lexed.instructions, dockerfile.text, escape, lexed.directives)
            except GradingError:
                continue


def _sources(
    dockerfile: Dockerfile, build_args: Mapping[str, str]
) -> tuple[list[ExternalSource], list[ExternalSource]]:
    """One reading's sources, in one pass over the stages (linear in the file's size)."""
    images: list[ExternalSource] = []
    urls: list[ExternalSource] = []
    envs: list[dict[str, str]] = []
    for stage, link in zip(dockerfile.stages, stage_links(dockerfile, build_args), strict=True):
        text, parent = link.text, link.parent
        if parent is None and text and text.lower() != "scratch":
            images.append(ExternalSource(stage.line, "FROM", text))
        env = dict(envs[parent]) if parent is not None else {}
        for instruction, scope in _with_arg_scope(dockerfile, [stage], build_args):
            if instruction.keyword == "ENV":  # every ENV of the stage, wherever the ADD is
                for key, value in env_pairs(instruction.args).items():
                    env[key] = expand_value(value, ChainMap(env, scope))
        envs.append(env)
        for instruction, scope in _with_arg_scope(dockerfile, [stage], build_args):
            variables = ChainMap(env, scope)
            for step in (instruction, instruction.trigger):
                if step is None:
                    continue
                for what, ref in _step_images(step, variables):
                    source = dockerfile.stage(ref)
                    if ref and (source is None or source.index >= stage.index):
                        images.append(ExternalSource(step.line, what, ref))
                if step.keyword == "ADD":
                    urls += [
                        ExternalSource(step.line, "ADD", url)
                        for url in _add_urls(step, variables, dockerfile.escape)
                    ]
    return images, urls


def _step_images(step: Instruction, variables: Mapping[str, str]) -> list[tuple[str, str]]:
    """Images a COPY/ADD --from or a RUN --mount from= names (before stage lookup)."""
    found: list[tuple[str, str]] = []
    if step.keyword in ("COPY", "ADD") and step.flags.get("from"):
        found.append((f"{step.keyword} --from", step.flags["from"]))
    if step.keyword == "RUN":
        for flag in step.raw_flags:
            name, _, value = flag[2:].partition("=")
            if name.lower() != "mount":
                continue
            for field_ in value.split(","):
                key, _, item = field_.partition("=")
                if key.strip().lower() == "from" and item.strip():
                    found.append(("RUN --mount from", item.strip()))
    return [(what, expand_value(ref, variables)) for what, ref in found]


def _add_urls(step: Instruction, variables: Mapping[str, str], escape: str) -> list[str]:
    """Every word of an ADD that reads as remote, in any of the ways the builder might read it."""
    words_, _ = split_list(step.args, step.line)
    for flag in step.raw_flags:
        words_ += [flag, flag.partition("=")[2]]
    found: list[str] = []
    for word in words_:
        if not _MAYBE_REMOTE.search(word):
            continue  # no reading of it can start with a scheme, user@ or a forge
        expanded = expand_value(word, variables)
        readings = (
            unquote(expanded, escape), expanded, word, unquote(word, escape),
            expanded.translate(_QUOTES_AND_ESCAPES), word.translate(_QUOTES_AND_ESCAPES),
        )  # fmt: skip
        remote = next((r for r in readings if _REMOTE.match(go_lstrip(r))), None)
        if remote is not None:
            found.append(go_lstrip(remote))
    return found
