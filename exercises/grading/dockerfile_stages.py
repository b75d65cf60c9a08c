"""A Dockerfile's stages: instructions grouped under their FROM, and where each stage's
image comes from (ARG substitution, stage aliases), resolved in one linear pass.

`dockerfile` builds on this (the final image, what the engine fetches); this module knows
nothing of either, so the two read as a layer over `dockerfile_syntax`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .compose import interpolate
from .compose_views import ImageRef, image_ref
from .dockerfile_syntax import Instruction, dockerfile_lex, whitespace_words
from .types import GradingError

VALUE_MAX = 4096
UNRESOLVED_SHOWN = 32  # ARGs without a value named along a chain of stages
NO_FROM = "The Dockerfile has no FROM instruction."
BEFORE_FROM = "Dockerfile line {line}: only ARG may come before the first FROM."
BAD_FROM = "Dockerfile line {line}: FROM needs an image (FROM <image> [AS <name>])."


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


# --- parsing ----------------------------------------------------------------------------------


def dockerfile_parse(text: str) -> Dockerfile:
    """Stages and instructions; GradingError for what Docker itself would refuse to build."""
    lexed = dockerfile_lex(text)
    return stages_from(lexed.instructions, text, lexed.escape, lexed.directives)


def stages_from(
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


# --- where each stage comes from --------------------------------------------------------


def resolve_base(
    dockerfile: Dockerfile, stage: Stage, build_args: Mapping[str, str]
) -> ResolvedBase:
    """Follow FROM through ARG defaults and stage aliases to an external image."""
    link = stage_links(dockerfile, build_args)[stage.index]
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
            links = stage_links(self._dockerfile, self._build_args)
            stages: list[Stage] = []
            current: int | None = self._start
            while current is not None:  # each parent comes earlier in the file: this ends
                stages.append(self._dockerfile.stages[current])
                current = links[current].parent
            self._stages = stages
        return self._stages


@dataclass(frozen=True)
class _Link:
    text: str  # FROM after ARG substitution
    parent: int | None  # the earlier stage it names, or None for an image
    root_text: str  # the image at the end of the chain of stages
    root_missing: frozenset[str]  # ARGs without a value in that last FROM
    unresolved: frozenset[str]  # ... in any FROM of the chain
    depth: int  # stages in the chain


def stage_links(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> list[_Link]:
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


def expand_value(text: str, variables: Mapping[str, str]) -> str:
    """Dockerfile substitution, kept to VALUE_MAX characters: values that feed each other
    (`ENV B=$A$A`) grow without bound, and every check needs only a value's start."""
    return interpolate(text, variables, dollar_escape=False)[0][:VALUE_MAX]
