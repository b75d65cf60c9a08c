"""Read a Dockerfile into stages, resolve what the final image inherits, and list what the
engine would fetch by itself while building it.

The text is split into instructions by `dockerfile_syntax`, a transcription of the engine's
own parser; this module adds Docker's meaning: ARG scoping (global ARGs feed FROM, stage
ARGs and ENV feed the rest), stage aliases (`FROM builder` inherits everything `builder`
set), and the images and URLs a build would make the daemon fetch (`external_sources`).
hadolint's findings are evidence beside the rules (`hadolint.py`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .compose import interpolate
from .compose_views import ImageRef, image_ref
from .dockerfile_syntax import (
    Instruction,
    dockerfile_lex,
    go_lstrip,
    split_list,
    unquote,
    whitespace_words,
)
from .hadolint import Finding, Hadolint, hadolint_binary  # noqa: F401 (the grader's imports)
from .types import GradingError

NO_FROM = "The Dockerfile has no FROM instruction."
BEFORE_FROM = "Dockerfile line {line}: only ARG may come before the first FROM."
BAD_FROM = "Dockerfile line {line}: FROM needs an image (FROM <image> [AS <name>])."
UNKNOWN_TARGET = (
    "The compose file builds target {target!r}, which is not a stage of the Dockerfile."
)


@dataclass
class Stage:
    index: int
    base: str  # the image text after FROM, before variable substitution
    alias: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]
    stages: list[Stage]
    text: str = ""  # the source, so that other readings of it can be tried
    escape: str = "\\"
    directives: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (value, line)

    def stage(self, name_or_index: str) -> Stage | None:
        for stage in self.stages:
            if stage.alias and stage.alias.lower() == name_or_index.lower():
                return stage
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return self.stages[int(name_or_index)]
        return None


@dataclass
class ResolvedBase:
    """Where a stage's image really comes from after ARGs and stage aliases."""

    text: str  # the external image after substitution ("" if it could not be resolved)
    ref: ImageRef | None
    chain: list[Stage]  # the stage first, then the stages it is built FROM
    unresolved: set[str] = field(default_factory=set)


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


# --- parsing ----------------------------------------------------------------------------------


def dockerfile_parse(text: str) -> Dockerfile:
    """Stages and instructions; GradingError for what Docker itself would refuse to build."""
    lexed = dockerfile_lex(text)
    return _stages(lexed.instructions, text, lexed.escape, lexed.directives)


def _stages(
    instructions: list[Instruction], text: str, escape: str, directives: dict[str, tuple[str, int]]
) -> Dockerfile:
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append(_from(instruction, len(stages)))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            global_args.update(arg_pairs(instruction.args))
        else:
            raise GradingError(BEFORE_FROM.format(line=instruction.line))
    if not stages:
        raise GradingError(NO_FROM)
    return Dockerfile(global_args, stages, text, escape, dict(directives))


def _from(instruction: Instruction, index: int) -> Stage:
    """`FROM image [AS name]`: one or three words, as the builder requires."""
    words = whitespace_words(instruction.args)
    if len(words) not in (1, 3) or len(words) == 3 and words[1].lower() != "as":
        raise GradingError(BAD_FROM.format(line=instruction.line))
    alias = words[2] if len(words) == 3 else None
    return Stage(index=index, base=words[0], alias=alias, line=instruction.line)


def words(args: str) -> list[str]:
    """Shell-like words, tolerant of unbalanced quotes (which Docker also tolerates)."""
    try:
        return shlex.split(args, posix=True)
    except ValueError:
        return args.split()


def arg_pairs(args: str) -> dict[str, str | None]:
    """`ARG A=1 B` -> {"A": "1", "B": None}."""
    pairs: dict[str, str | None] = {}
    for word in words(args):
        key, sep, value = word.partition("=")
        pairs[key] = value if sep else None
    return pairs


def env_pairs(args: str) -> dict[str, str]:
    """`ENV A=1 B="two words"` or the legacy `ENV A one value`."""
    tokens = words(args)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return {k: v for k, _, v in (t.partition("=") for t in tokens)}


def exec_or_shell(args: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD args: JSON exec form, else a shell string."""
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except json.JSONDecodeError:
            pass
    return ["/bin/sh", "-c", args]


# --- resolving what the final image is --------------------------------------------------------


def resolve_base(
    dockerfile: Dockerfile, stage: Stage, build_args: Mapping[str, str]
) -> ResolvedBase:
    """Follow FROM through ARG defaults and stage aliases to an external image."""
    scope = {k: v for k, v in dockerfile.global_args.items() if v is not None}
    scope.update({k: v for k, v in build_args.items() if k in dockerfile.global_args})
    chain: list[Stage] = []
    unresolved: set[str] = set()
    current: Stage | None = stage
    while current is not None and current not in chain:
        chain.append(current)
        text, missing = interpolate(current.base, scope, dollar_escape=False)
        unresolved |= missing
        parent = dockerfile.stage(text) if not text.isdigit() else None
        if parent is not None and parent.index < current.index:
            current = parent
            continue
        ref = image_ref(text) if text and not missing else None
        return ResolvedBase(text, ref, chain, unresolved)
    return ResolvedBase("", None, chain, unresolved)


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
                env[key] = interpolate(value, {**scope, **env}, dollar_escape=False)[0]
        elif keyword == "USER":
            user = instruction
            user_value = interpolate(
                instruction.args.strip(), {**scope, **env}, dollar_escape=False
            )[0]
        elif keyword == "HEALTHCHECK":
            healthcheck = instruction
        elif keyword == "CMD":
            cmd = instruction
        elif keyword == "ENTRYPOINT":
            entrypoint = instruction
        elif keyword == "WORKDIR":
            path = interpolate(instruction.args.strip(), {**scope, **env}, dollar_escape=False)[0]
            workdir = os.path.normpath(os.path.join(workdir, path))
    instructions = [i for s in reversed(base.chain) for i in s.instructions]
    return FinalImage(
        stage, base, instructions, env, user, user_value, healthcheck, cmd, entrypoint, workdir
    )


def _with_arg_scope(
    dockerfile: Dockerfile, chain: list[Stage], build_args: Mapping[str, str]
) -> list[tuple[Instruction, dict[str, str]]]:
    """Each inherited instruction with the ARG values visible to it (ARGs end with their stage)."""
    result: list[tuple[Instruction, dict[str, str]]] = []
    for stage in reversed(chain):
        scope: dict[str, str] = {}
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                scope = dict(scope)
                for key, value in arg_pairs(instruction.args).items():
                    default = value if value is not None else dockerfile.global_args.get(key)
                    resolved = build_args.get(key, default)
                    if resolved is not None:
                        scope[key] = interpolate(resolved, scope, dollar_escape=False)[0]
            result.append((instruction, scope))
    return result


# --- what the engine fetches by itself ------------------------------------------------------

# A URL ADD downloads, or a git repository it clones: any scheme, scp-like `user@host:path`,
# and the forge shorthands BuildKit's git detection accepts.
_REMOTE = re.compile(
    r"([a-z][a-z0-9+.-]*:/|[\w.+-]+@[\w.-]+:|(github\.com|gitlab\.com|bitbucket\.org)/)", re.I
)
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
            if not dockerfile.text or (escape == dockerfile.escape and not loose):
                continue
            try:
                lexed = dockerfile_lex(dockerfile.text, escape=escape, loose=loose)
                yield _stages(lexed.instructions, dockerfile.text, escape, lexed.directives)
            except GradingError:
                continue


def _sources(
    dockerfile: Dockerfile, build_args: Mapping[str, str]
) -> tuple[list[ExternalSource], list[ExternalSource]]:
    images: list[ExternalSource] = []
    urls: list[ExternalSource] = []
    for stage in dockerfile.stages:
        base = resolve_base(dockerfile, stage, build_args)
        if base.text and base.text.lower() != "scratch":
            images.append(ExternalSource(base.chain[-1].line, "FROM", base.text))
        inherited = final_image(dockerfile, str(stage.index), build_args).env
        for instruction, scope in _with_arg_scope(dockerfile, [stage], build_args):
            variables = {**scope, **inherited}
            for step in (instruction, instruction.trigger):
                if step is None:
                    continue
                for what, ref in _step_images(step, variables):
                    parent = dockerfile.stage(ref)
                    if ref and (parent is None or parent.index >= stage.index):
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
    return [(what, interpolate(ref, variables, dollar_escape=False)[0]) for what, ref in found]


def _add_urls(step: Instruction, variables: Mapping[str, str], escape: str) -> list[str]:
    """Every word of an ADD that reads as remote, in any of the ways the builder might read it."""
    words_, _ = split_list(step.args, step.line)
    for flag in step.raw_flags:
        words_ += [flag, flag.partition("=")[2]]
    found: list[str] = []
    for word in words_:
        expanded = interpolate(word, variables, dollar_escape=False)[0]
        readings = (
            unquote(expanded, escape), expanded, word, unquote(word, escape),
            expanded.translate(_QUOTES_AND_ESCAPES), word.translate(_QUOTES_AND_ESCAPES),
        )  # fmt: skip
        remote = next((r for r in readings if _REMOTE.match(go_lstrip(r))), None)
        if remote is not None:
            found.append(go_lstrip(remote))
    return found
