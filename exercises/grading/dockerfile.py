"""Parse a Dockerfile into stages, resolve what the final image inherits, and run hadolint.

The parser follows Docker's own rules where they matter to the checklist: line
continuations (and the `# escape=` directive), comments inside continuations, heredocs,
ARG scoping (global ARGs feed FROM, stage ARGs and ENV feed the rest), and stage aliases
(`FROM builder` inherits everything `builder` set). hadolint adds its findings as
evidence; the rules themselves are Drydock's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .compose import ImageRef, image_ref, interpolate
from .proc import ToolRun
from .types import GradingError, InfrastructureError

HADOLINT_TIMEOUT_S = 20.0
INSTRUCTIONS = frozenset(
    [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "MAINTAINER",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ]
)

UNKNOWN_INSTRUCTION = "Dockerfile line {line}: unknown instruction {word}."
NO_FROM = "The Dockerfile has no FROM instruction."
BEFORE_FROM = "Dockerfile line {line}: only ARG may come before the first FROM."
BAD_FROM = "Dockerfile line {line}: FROM needs an image."
UNKNOWN_TARGET = (
    "The compose file builds target {target!r}, which is not a stage of the Dockerfile."
)
HADOLINT_MISSING = "hadolint is not installed where Drydock expects it ({path})."

_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z0-9_.-]+)\2")
_ESCAPE_DIRECTIVE = re.compile(r"^#\s*escape\s*=\s*([\\`])\s*$", re.IGNORECASE)
_DIRECTIVE = re.compile(r"^#\s*[a-z]+\s*=", re.IGNORECASE)
_FLAG = re.compile(r"--([a-z-]+)(?:=(\S*))?")


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # everything after the keyword and its --flags, continuations joined
    line: int
    flags: dict[str, str] = field(default_factory=dict)


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


@dataclass
class Finding:
    code: str
    line: int
    level: str
    message: str


# --- parsing ----------------------------------------------------------------------------------


def dockerfile_parse(text: str) -> Dockerfile:
    """Stages and instructions; GradingError for what Docker itself would refuse to build."""
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in _instructions(text):
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
    return Dockerfile(global_args=global_args, stages=stages)


def _instructions(text: str) -> list[Instruction]:
    lines = text.replace("\r\n", "\n").split("\n")
    escape = "\\"
    for line in lines:  # parser directives: only at the very top
        match = _ESCAPE_DIRECTIVE.match(line.strip())
        if match:
            escape = match.group(1)
        elif not _DIRECTIVE.match(line.strip()):
            break
    result: list[Instruction] = []
    i = 0
    while i < len(lines):
        start, stripped = i, lines[i].strip()
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        parts = [stripped]
        while parts[-1].endswith(escape):
            parts[-1] = parts[-1][:-1]
            # Docker skips comment and empty lines inside a continuation.
            while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                i += 1
            if i == len(lines):
                break
            parts.append(lines[i].strip())
            i += 1
        joined = " ".join(parts).strip()
        word, _, args = joined.partition(" ")
        keyword = word.upper()
        if keyword not in INSTRUCTIONS:
            raise GradingError(UNKNOWN_INSTRUCTION.format(line=start + 1, word=word[:40]))
        if keyword in ("RUN", "COPY", "ADD"):
            for heredoc in _HEREDOC.finditer(joined):
                body, i = _heredoc_body(
                    lines, i, heredoc.group(3), strip_tabs=bool(heredoc.group(1))
                )
                args += "\n" + body
        flags, args = _flags(args.strip())
        result.append(Instruction(keyword, args, start + 1, flags))
    return result


def _heredoc_body(lines: list[str], i: int, delimiter: str, *, strip_tabs: bool) -> tuple[str, int]:
    body: list[str] = []
    while i < len(lines):
        line = lines[i].lstrip("\t") if strip_tabs else lines[i]
        i += 1
        if line.strip() == delimiter:
            break
        body.append(line)
    return "\n".join(body), i


def _flags(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while args.startswith("--"):
        match = _FLAG.match(args)
        if not match:
            break
        flags[match.group(1).lower()] = match.group(2) or ""
        args = args[match.end() :].lstrip()
    return flags, args


def _from(instruction: Instruction, index: int) -> Stage:
    words = instruction.args.split()
    if not words:
        raise GradingError(BAD_FROM.format(line=instruction.line))
    alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
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


_REMOTE_SOURCE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@)", re.IGNORECASE)


@dataclass
class ExternalSource:
    """Something the engine itself fetches while building, outside the build's network
    sandbox: an image (FROM, COPY --from) or a URL (ADD)."""

    line: int
    what: str  # "FROM", "COPY --from", "ADD"
    ref: str


def external_sources(
    dockerfile: Dockerfile, build_args: Mapping[str, str]
) -> tuple[list[ExternalSource], list[ExternalSource]]:
    """(images, urls) that building this Dockerfile makes the engine fetch by itself.

    `--network none` only confines RUN steps: the daemon pulls a missing FROM or COPY --from
    image, and downloads ADD URLs, from the host's network (its loopback included). Values
    are expanded the way the builder expands them (ARGs, build args, ENV for ADD); ONBUILD
    triggers count as if they ran in their own stage.
    """
    images: list[ExternalSource] = []
    urls: list[ExternalSource] = []
    for stage in dockerfile.stages:
        base = resolve_base(dockerfile, stage, build_args)
        if base.text and base.text.lower() != "scratch" and not base.unresolved:
            images.append(ExternalSource(base.chain[-1].line, "FROM", base.text))
        env: dict[str, str] = {}
        for instruction, scope in _with_arg_scope(dockerfile, [stage], build_args):
            keyword, flags, args = instruction.keyword, instruction.flags, instruction.args
            if keyword == "ONBUILD":
                word, _, rest = args.partition(" ")
                keyword = word.upper()
                flags, args = _flags(rest.strip())
            variables = {**scope, **env}
            if keyword == "ENV":
                for key, value in env_pairs(args).items():
                    env[key] = interpolate(value, variables, dollar_escape=False)[0]
            elif keyword in ("COPY", "ADD") and flags.get("from"):
                source = interpolate(flags["from"], variables, dollar_escape=False)[0]
                parent = dockerfile.stage(source)
                if source and (parent is None or parent.index >= stage.index):
                    images.append(ExternalSource(instruction.line, f"{keyword} --from", source))
            if keyword == "ADD":
                for word in _add_sources(args):
                    source = interpolate(word, variables, dollar_escape=False)[0]
                    if _REMOTE_SOURCE.match(word) or _REMOTE_SOURCE.match(source):
                        urls.append(ExternalSource(instruction.line, "ADD", source))
    return images, urls


def _add_sources(args: str) -> list[str]:
    """ADD's sources, in shell or JSON form (the last word is the destination)."""
    first = args.split("\n", 1)[0].strip()
    if first.startswith("["):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(first)
            if isinstance(value, list):
                return [str(v) for v in value[:-1]]
    return words(first)[:-1]


# --- hadolint ---------------------------------------------------------------------------------


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
