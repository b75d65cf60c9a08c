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
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .compose import interpolate
from .compose_views import ImageRef, image_ref
from .dockerfile_syntax import (
    Instruction,
    dockerfile_lex,
    go_lstrip,
    reading_differs,
    split_list,
    unquote,
    whitespace_words,
)
from .hadolint import Finding, Hadolint, hadolint_binary  # noqa: F401 (the grader's imports)
from .types import GradingError

VALUE_MAX = 4096
UNRESOLVED_SHOWN = 32  # ARGs without a value named along a chain of stages
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
    _aliases: dict[str, Stage] = field(default_factory=dict, repr=False, compare=False)
    _links: dict[tuple, list] = field(default_factory=dict, repr=False, compare=False)

    def stage(self, name_or_index: str) -> Stage | None:
        """A stage by name (case-insensitive, the first of that name) or by index."""
        if len(self._aliases) != len(self.stages):
            self._aliases.clear()
            for stage in reversed(self.stages):
                self._aliases[(stage.alias or "").lower()] = stage
        named = self._aliases.get(name_or_index.lower()) if name_or_index else None
        if named is not None and named.alias:
            return named
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return self.stages[int(name_or_index)]
        return None


@dataclass
class ResolvedBase:
    """Where a stage's image really comes from after ARGs and stage aliases."""

    text: str  # the external image after substitution ("" if it could not be resolved)
    ref: ImageRef | None
    chain: Sequence[Stage]  # the stage first, then the stages it is built FROM
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
    link = _stage_links(dockerfile, build_args)[stage.index]
    ref = image_ref(link.root_text) if link.root_text and not link.root_missing else None
    chain = StageChain(dockerfile, build_args, stage.index, link.depth)
    return ResolvedBase(link.root_text, ref, chain, set(link.unresolved))


class StageChain(Sequence[Stage]):
    """A stage and the stages it is built FROM. Its length is known at once; the stages are
    listed only when read, so that asking every stage of a long chain for its base stays
    linear (a list per stage would be quadratic)."""

    def __init__(
        self, dockerfile: Dockerfile, build_args: Mapping[str, str], start: int, depth: int
    ) -> None:
        self._dockerfile, self._build_args = dockerfile, build_args
        self._start, self._depth = start, depth
        self._stages: list[Stage] | None = None

    def __len__(self) -> int:
        return self._depth

    def __getitem__(self, index):  # type: ignore[override]
        return self._list()[index]

    def __iter__(self) -> Iterator[Stage]:
        return iter(self._list())

    def __reversed__(self) -> Iterator[Stage]:
        return reversed(self._list())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def _list(self) -> list[Stage]:
        if self._stages is None:
            links = _stage_links(self._dockerfile, self._build_args)
            stages: list[Stage] = []
            current: int | None = self._start
            while current is not None:  # each parent comes earlier in the file: this ends
                stages.append(self._dockerfile.stages[current])
                current = links[current].parent
            self._stages = stages
        return self._stages


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
                env[key] = _expand(value, ChainMap(env, scope))
        elif keyword == "USER":
            user = instruction
            user_value = _expand(instruction.args.strip(), ChainMap(env, scope))
        elif keyword == "HEALTHCHECK":
            healthcheck = instruction
        elif keyword == "CMD":
            cmd = instruction
        elif keyword == "ENTRYPOINT":
            entrypoint = instruction
        elif keyword == "WORKDIR":
            path = _expand(instruction.args.strip(), ChainMap(env, scope))
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
                        scope[key] = _expand(resolved, scope)
            yield instruction, scope


def _expand(text: str, variables: Mapping[str, str]) -> str:
    """Dockerfile substitution, kept to VALUE_MAX characters: values that feed each other
    (`ENV B=$A$A`) grow without bound, and every check needs only a value's start."""
    return interpolate(text, variables, dollar_escape=False)[0][:VALUE_MAX]


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
                yield _stages(lexed.instructions, dockerfile.text, escape, lexed.directives)
            except GradingError:
                continue


def _sources(
    dockerfile: Dockerfile, build_args: Mapping[str, str]
) -> tuple[list[ExternalSource], list[ExternalSource]]:
    """One reading's sources, in one pass over the stages (linear in the file's size)."""
    images: list[ExternalSource] = []
    urls: list[ExternalSource] = []
    envs: list[dict[str, str]] = []
    for stage, link in zip(dockerfile.stages, _stage_links(dockerfile, build_args), strict=True):
        text, parent = link.text, link.parent
        if parent is None and text and text.lower() != "scratch":
            images.append(ExternalSource(stage.line, "FROM", text))
        env = dict(envs[parent]) if parent is not None else {}
        for instruction, scope in _with_arg_scope(dockerfile, [stage], build_args):
            if instruction.keyword == "ENV":  # every ENV of the stage, wherever the ADD is
                for key, value in env_pairs(instruction.args).items():
                    env[key] = _expand(value, ChainMap(env, scope))
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


@dataclass(frozen=True)
class _Link:
    text: str  # FROM after ARG substitution
    parent: int | None  # the earlier stage it names, or None for an image
    root_text: str  # the image at the end of the chain of stages
    root_missing: frozenset[str]  # ARGs without a value in that last FROM
    unresolved: frozenset[str]  # ... in any FROM of the chain
    depth: int  # stages in the chain


def _stage_links(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> list[_Link]:
    """Every stage's link to its base, in one pass, cached per build args."""
    key = tuple(sorted((k, v) for k, v in build_args.items() if k in dockerfile.global_args))
    cached = dockerfile._links.get(key)
    if cached is not None:
        return cached
    scope = {k: v for k, v in dockerfile.global_args.items() if v is not None}
    scope.update(dict(key))
    earlier: dict[str, int] = {}
    links: list[_Link] = []
    for stage in dockerfile.stages:
        text, missing = interpolate(stage.base, scope, dollar_escape=False)
        parent = None if text.isdigit() else earlier.get(text.lower())
        needed = frozenset(missing)
        if parent is None:
            links.append(_Link(text, None, text, needed, needed, 1))
        else:
            up = links[parent]
            grows = needed and len(up.unresolved) < UNRESOLVED_SHOWN
            unresolved = up.unresolved | needed if grows else up.unresolved
            links.append(
                _Link(text, parent, up.root_text, up.root_missing, unresolved, up.depth + 1)
            )
        if stage.alias:
            earlier.setdefault(stage.alias.lower(), stage.index)
    dockerfile._links[key] = links
    return links


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
    return [(what, _expand(ref, variables)) for what, ref in found]


def _add_urls(step: Instruction, variables: Mapping[str, str], escape: str) -> list[str]:
    """Every word of an ADD that reads as remote, in any of the ways the builder might read it."""
    words_, _ = split_list(step.args, step.line)
    for flag in step.raw_flags:
        words_ += [flag, flag.partition("=")[2]]
    found: list[str] = []
    for word in words_:
        if not _MAYBE_REMOTE.search(word):
            continue  # no reading of it can start with a scheme, user@ or a forge
        expanded = _expand(word, variables)
        readings = (
            unquote(expanded, escape), expanded, word, unquote(word, escape),
            expanded.translate(_QUOTES_AND_ESCAPES), word.translate(_QUOTES_AND_ESCAPES),
        )  # fmt: skip
        remote = next((r for r in readings if _REMOTE.match(go_lstrip(r))), None)
        if remote is not None:
            found.append(go_lstrip(remote))
    return found
