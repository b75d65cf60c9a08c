"""Check 6, environment-config: production's configuration (NODE_ENV, no debugging, no
source mounts, the built app), with credentials kept out of the compose file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..compose import as_list, env_dict, has_variable
from ..dockerfile import arg_pairs, env_pairs, exec_or_shell
from ..policy import mount_source
from .analysis import NO_APP, Analysis, Verdict
from .secrets import literal_secret, url_has_literal_credential
from .values import falsy_text, truthy
from .vocabulary import is_user_key

_DEV_COMMAND = re.compile(
    r"\b(npm|yarn|pnpm|bun)\s+(run\s+)?(dev|develop|watch|start:dev|serve:dev)\b|\bnodemon\b"
    r"|\bts-node-dev\b|\s--watch\b|\s--inspect(-brk)?\b|\bnext\s+dev\b",
    re.I,
)
_CODE_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".py", ".rb"})
_CODE_FILES = frozenset({"package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"})
NO_NODE_ENV = "NODE_ENV=production is set neither in the Dockerfile nor in the compose file."
LITERAL_CREDENTIAL = "Service {service}: the credential {key} is written into the compose file."


def environment_config(a: Analysis) -> Verdict:
    v = Verdict()
    if a.app is None:
        v.fail(NO_APP)
        return v
    app, env = a.service(a.app), env_dict(a.service(a.app).get("environment"))
    node_env = env.get("NODE_ENV") if "NODE_ENV" in env else a.final.env.get("NODE_ENV")
    where = f"service {a.app}" if "NODE_ENV" in env else "the Dockerfile"
    if node_env == "production":
        v.ok(f"NODE_ENV=production ({where})")
    else:
        v.fail(
            f"NODE_ENV is {node_env!r} ({where}); production needs NODE_ENV=production."
            if node_env
            else NO_NODE_ENV
        )
    for line in _development_settings(a):
        v.fail(line)
    for key, value in {**a.final.env, **env}.items():
        if _debug_setting(key, value):
            v.fail(f"{key}={value} turns on debugging; remove it in production.")
    for volume in as_list(app.get("volumes")):
        _judge_app_volume(a, v, volume)
    command = effective_command(a)
    if command and _DEV_COMMAND.search(" " + command):
        v.fail(f"The app runs a development command ({command}).")
    elif command:
        v.ok(f"the app runs: {command}")
    _literal_credentials(a, v)
    return v


def _development_settings(a: Analysis) -> Iterable[str]:
    for instruction in a.final.instructions:
        if instruction.keyword in ("ENV", "ARG"):
            pairs = (
                env_pairs(instruction.args)
                if instruction.keyword == "ENV"
                else arg_pairs(instruction.args)
            )
            for key, value in pairs.items():
                if key.upper().endswith("ENV") and str(value).lower() in ("development", "dev"):
                    yield f"Dockerfile line {instruction.line}: {key}={value} in the final image."
    for name, raw in a.raw_services.items():
        for key, value in env_dict(raw.get("environment")).items():
            if name == a.app and key == "NODE_ENV" and value and not has_variable(value):
                continue  # the NODE_ENV rule already reports the app's own value
            if (
                key.upper().endswith("ENV")
                and value
                and re.search(r"(^|[-:=])dev(elopment)?\}?$", value, re.I)
            ):
                yield f"Service {name}: {key} is set to development ({value})."


def _debug_setting(key: str, value: str | None) -> bool:
    text = str(value or "").strip().lower()
    upper = key.upper()
    if upper == "DEBUG":
        return not falsy_text(text)
    if upper.endswith("_DEBUG") or upper.startswith("DEBUG_"):
        return truthy(text)
    return upper == "NODE_OPTIONS" and "--inspect" in text


def _judge_app_volume(a: Analysis, v: Verdict, volume: Any) -> None:
    kind, source = mount_source(volume)
    target = str(volume.get("target") if isinstance(volume, dict) else str(volume).split(":")[-1])
    if "node_modules" in target:
        v.fail(f"The app mounts a volume over {target}, hiding the image's installed dependencies.")
    elif kind == "bind" and source is not None and _is_source(Path(source)):
        shown = _relative(Path(source), a.workdir)
        v.fail(
            f"The app bind-mounts source code ({shown}) into {target}; "
            "production runs the code in the image."
        )


def _is_source(path: Path) -> bool:
    """A folder of the project (or the project itself) or a code file; a mounted config
    file or a folder Docker creates (logs, uploads) is not source code."""
    return path.is_dir() or path.suffix in _CODE_SUFFIXES or path.name in _CODE_FILES


def _relative(path: Path, root: Path) -> str:
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return "./" if relative == "." else f"./{relative}"


def effective_command(a: Analysis) -> str:
    app = a.service(a.app)
    entrypoint = app.get("entrypoint")
    command = app.get("command")
    parts: list[str] = []
    if entrypoint:
        parts += as_list(entrypoint)
    elif a.final.entrypoint is not None:
        parts += exec_or_shell(a.final.entrypoint.args)
    if command:
        parts += as_list(command)
    elif a.final.cmd is not None and not entrypoint:
        parts += exec_or_shell(a.final.cmd.args)
    text = " ".join(str(p) for p in parts)
    return text.removeprefix("/bin/sh -c ")


def _literal_credentials(a: Analysis, v: Verdict) -> None:
    found = False
    for name, raw in a.raw_services.items():
        for key, value in env_dict(raw.get("environment")).items():
            if value is None:
                continue
            in_url = url_has_literal_credential(value)
            if has_variable(value) and not in_url:
                continue
            user = is_user_key(key, database_service=name == a.db) and bool(value.strip())
            if literal_secret(key, value) or user or in_url:
                found = True
                v.fail(LITERAL_CREDENTIAL.format(service=name, key=key))
    if not found:
        v.ok("credentials come from variables, env_file or secrets")
