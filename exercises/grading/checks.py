"""The seven checklist rules, their runtime confirmations, and the bonus extensions.

Each rule is written for its intent rather than for one spelling of it: environment as a
list or a mapping, short or long healthchecks, `mem_limit` or `deploy.resources`, an
ARG-parameterised FROM, a distroless final stage, `USER 1001`... The rules read two views
of the compose file: Docker Compose's normalised project (what will really run, variables
resolved) and the learner's raw YAML (whether a value was typed in literally or comes
from `${VAR}`, which interpolation erases).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compose import ImageRef, as_list, env_dict, has_variable, image_ref, service_image
from .dockerfile import (
    Dockerfile,
    FinalImage,
    Finding,
    Stage,
    arg_pairs,
    env_pairs,
    exec_or_shell,
    resolve_base,
)
from .files import Submission
from .policy import mount_source
from .types import CHECK_IDS, CheckResult, Extension, RuntimeObservations, SandboxPlan

HINTS = {
    "minimal-base-image": (
        "Build the final stage FROM a small base such as node:18-alpine, a -slim tag or a "
        "distroless image; keep compilers and dev dependencies in an earlier build stage."
    ),
    "non-root-user": (
        "Create an unprivileged user in the final stage (e.g. adduser -u 1001) and switch to "
        "it with USER before CMD; don't override it with `user: root` in the compose file."
    ),
    "security-practices": (
        "Keep secrets out of the Dockerfile and the compose file (use secrets: or *_FILE "
        "variables), pin every image to a version, and don't publish the database port."
    ),
    "resource-limits": (
        "Give every service a memory and a CPU limit, e.g. deploy.resources.limits "
        "{cpus: '0.5', memory: 512M}."
    ),
    "health-checks": (
        "Add a HEALTHCHECK (or compose healthcheck) that calls the app's /health endpoint, give "
        "the database one (pg_isready), and make the app depend on the database with "
        "condition: service_healthy."
    ),
    "environment-config": (
        "Set NODE_ENV=production, drop DEBUG, the source bind mount and the node_modules volume, "
        "run the built app (node dist/server.js) and take credentials from ${VARIABLES}, an "
        "env_file or secrets."
    ),
    "tagging-strategy": (
        "Give the app an image: with a meaningful version tag such as "
        "${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}, and pin the database image "
        "(e.g. postgres:14-alpine)."
    ),
}
SUMMARIES_PASSED = {
    "minimal-base-image": "The final image is built on a minimal base image.",
    "non-root-user": "The application runs as a non-root user.",
    "security-practices": "No secrets, unpinned images or exposed database found.",
    "resource-limits": "Every service has a memory and a CPU limit.",
    "health-checks": "The app and the database are health-checked, and the app waits for the database.",
    "environment-config": "The configuration is production's, with credentials kept out of the files.",
    "tagging-strategy": "The app image has a meaningful version tag and the database image is pinned.",
}
RUNTIME_PREFIX = "runtime: "
NOT_BUILT = "runtime: not confirmed: the image did not build ({reason})"
NO_APP = (
    "No application service found in the compose file (a service with build: or your own image)."
)
NO_DB = "No database service found (a postgres, mysql, mariadb or mongo image)."

_SECRET_WORDS = frozenset(
    [
        "PASS",
        "PASSWD",
        "PASSWORD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    ]
)
_SECRET_SUFFIXES = ("PASSWORD", "PASSWD", "TOKEN", "SECRET")
_KEY_KINDS = frozenset(
    [
        "API",
        "PRIVATE",
        "ACCESS",
        "SECRET",
        "AUTH",
        "ENCRYPTION",
        "SIGNING",
        "MASTER",
        "SESSION",
        "JWT",
    ]
)
# A last word that makes the value a setting about the secret, not the secret itself.
_NOT_SECRET_LAST = frozenset(
    [
        "FILE",
        "PATH",
        "DIR",
        "LENGTH",
        "LEN",
        "TTL",
        "EXPIRY",
        "EXPIRES",
        "TIMEOUT",
        "HEADER",
        "METHOD",
        "URL",
        "URI",
        "ENDPOINT",
        "HOST",
        "PORT",
        "ENABLED",
        "REQUIRED",
        "TYPE",
        "ALGORITHM",
    ]
)
_USER_KEY = re.compile(r"(^|_|PG)(USER|USERNAME|LOGIN)$", re.I)
_CREDENTIAL_CONTEXT = re.compile(r"DB|DATABASE|POSTGRES|^PG|MYSQL|MARIA|MONGO|ADMIN|ROOT", re.I)
_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://(?P<userinfo>[^/@\s]+)@", re.I)
_SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|"
    r"\bxox[abpr]-[A-Za-z0-9-]{10,}|\bsk_live_[A-Za-z0-9]{10,}"
)
_WHOLE_VARIABLE = re.compile(
    r"^\$(\{[A-Za-z_][A-Za-z0-9_]*([:]?[-?][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)$"
)
_LITERAL_FALLBACK = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}$]+)\}")
_PIPE_TO_SHELL = re.compile(
    r"\b(curl|wget)\b[^|;&\n]*\|\s*(sudo\s+)?(-?\w+=\S+\s+)*(ba|z|da|k|a)?sh\b"
    r"|\b(ba|z|da|a)?sh\s+<\(\s*(curl|wget)\b"
    r"|\b(ba|z|da|a)?sh\s+-c\s+[\"']?\$\(\s*(curl|wget)\b",
    re.I,
)
_REMOTE_SOURCE = re.compile(r"^([a-z]+://|git@)", re.I)
_DEV_COMMAND = re.compile(
    r"\b(npm|yarn|pnpm|bun)\s+(run\s+)?(dev|develop|watch|start:dev|serve:dev)\b|\bnodemon\b"
    r"|\bts-node-dev\b|\s--watch\b|\s--inspect(-brk)?\b|\bnext\s+dev\b",
    re.I,
)
_SEMVER = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")
_TIMESTAMP = re.compile(r"^(\d{9,}|\d{4}-?\d{2}-?\d{2}([T_-]?\d{4,6}Z?)?)$")
_BAD_TAGS = frozenset(
    [
        "latest",
        "new",
        "dev",
        "develop",
        "development",
        "test",
        "testing",
        "tmp",
        "temp",
        "local",
        "current",
        "edge",
        "nightly",
    ]
)
_CODE_SUFFIXES = frozenset({".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".py", ".rb"})
_CODE_FILES = frozenset({"package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"})
_TRUE = frozenset({"1", "true", "yes", "on", "y"})
_FALSE = frozenset({"", "0", "false", "no", "off", "n"})
_TRIVIAL_TEST = re.compile(
    r"^\s*(true|:|exit\s+0|/bin/true|echo\b[^|;&]*)\s*$|(\|\||;)\s*(true|exit\s+0|:)\s*$"
)

_HADOLINT_CHECK = {
    "DL3002": "non-root-user",
    "DL3004": "non-root-user",
    "DL3066": "non-root-user",
    "DL3057": "health-checks",
    "DL3009": "minimal-base-image",
    "DL3015": "minimal-base-image",
    "DL3019": "minimal-base-image",
    "DL3042": "minimal-base-image",
    "DL3059": "minimal-base-image",
    "DL3060": "minimal-base-image",
    "DL3000": "environment-config",
    "DL3003": "environment-config",
    "DL3025": "environment-config",
}


@dataclass
class Analysis:
    """Everything the static rules look at, gathered once by the grader."""

    submission: Submission
    dockerfile: Dockerfile
    dockerfile_name: str  # the Dockerfile that is built (relative to the workdir)
    final: FinalImage
    build_args: dict[str, str]
    raw_services: dict[str, dict[str, Any]]  # the learner's YAML, not interpolated
    config: dict[str, Any]  # Compose's normalised project, before sandbox normalisation
    app: str | None
    db: str | None
    workdir: Path
    findings: list[Finding] = field(default_factory=list)
    hadolint_problem: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (check id, "sandbox: ...")

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.config.get("services") or {}

    def service(self, name: str | None) -> dict[str, Any]:
        return self.services.get(name) or {} if name else {}

    def raw(self, name: str | None) -> dict[str, Any]:
        return self.raw_services.get(name) or {} if name else {}


@dataclass
class _Verdict:
    """Failures and supporting evidence collected by one rule."""

    failures: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.failures.append(line)
        self.evidence.append(f"✗ {line}")

    def ok(self, line: str) -> None:
        self.evidence.append(f"✓ {line}")

    def note(self, line: str) -> None:
        self.evidence.append(line)

    def result(self, check_id: str) -> CheckResult:
        passed = not self.failures
        summary = SUMMARIES_PASSED[check_id] if passed else self.failures[0]
        return CheckResult(check_id, passed, summary, self.evidence, HINTS[check_id])


# --- the static rules -------------------------------------------------------------------------


def static_checks(analysis: Analysis) -> list[CheckResult]:
    """The seven rules in checklist order, with hadolint findings and sandbox notes attached."""
    rules: dict[str, Callable[[Analysis], _Verdict]] = {
        "minimal-base-image": _minimal_base_image,
        "non-root-user": _non_root_user,
        "security-practices": _security_practices,
        "resource-limits": _resource_limits,
        "health-checks": _health_checks,
        "environment-config": _environment_config,
        "tagging-strategy": _tagging_strategy,
    }
    extra = _hadolint_evidence(analysis)
    for check_id, note in analysis.notes:
        extra.setdefault(check_id, []).append(note)
    results = []
    for check_id in CHECK_IDS:
        verdict = rules[check_id](analysis)
        verdict.evidence += extra.get(check_id, [])
        results.append(verdict.result(check_id))
    return results


def _minimal_base_image(a: Analysis) -> _Verdict:
    v = _Verdict()
    stage, base = a.final.stage, a.final.base
    v.note(f"Dockerfile line {stage.line}: final stage{_alias(stage)} FROM {stage.base}")
    for parent in base.chain[1:]:
        v.note(f"Dockerfile line {parent.line}: which builds FROM {parent.base}")
    if base.unresolved:
        v.fail(
            f"The final base image {base.text or stage.base!r} depends on ARG {', '.join(sorted(base.unresolved))}, which has no default."
        )
    elif base.ref is None:
        v.fail(f"The final base image {stage.base!r} cannot be resolved.")
    else:
        kind = minimal_kind(base.ref)
        if kind:
            v.ok(f"{base.text} is {kind}")
        else:
            v.fail(
                f"The final stage is built FROM {base.text}, a full image (not alpine, -slim, distroless or scratch)."
            )
    return v


def minimal_kind(ref: ImageRef) -> str | None:
    """What makes an image minimal, or None for a full distribution image."""
    tag = (ref.tag or "").lower()
    if ref.repository == "scratch" and not ref.registry:
        return "scratch (an empty image)"
    if "distroless" in ref.repository:  # gcr.io/distroless/... and its mirrors
        return "a distroless image"
    if ref.registry == "cgr.dev":
        return "a Chainguard image"
    if ref.name == "busybox":
        return "busybox"
    if ref.name == "alpine" or "alpine" in tag:
        return "an Alpine image"
    if re.search(r"(^|[-._])slim($|[-._])", tag):
        return "a -slim image"
    if re.search(r"-(minimal|micro)$", ref.name):
        return "a minimal image"
    return None


def _non_root_user(a: Analysis) -> _Verdict:
    v = _Verdict()
    final, user = a.final, a.final.user
    if user is None:
        default = _nonroot_base(final.base.ref)
        if default:
            v.ok(f"no USER, but {final.base.text} runs as {default} by default")
        else:
            v.fail("The final stage never sets USER, so the app runs as root.")
    elif not final.user_value or "$" in final.user_value:
        v.fail(
            f"Dockerfile line {user.line}: USER {user.args} cannot be resolved (a variable without a value)."
        )
    elif _is_root(final.user_value):
        v.fail(f"Dockerfile line {user.line}: the last USER is {_root_text(final.user_value)}.")
    else:
        v.ok(f"Dockerfile line {user.line}: USER {final.user_value}")
    compose_user = a.service(a.app).get("user")
    if compose_user is not None:
        if _is_root(str(compose_user)):
            v.fail(
                f"The compose file runs service {a.app} as user {_root_text(str(compose_user))}."
            )
        elif user is None and not _nonroot_base(final.base.ref):
            v.note(
                f"compose sets user: {compose_user}, but the image itself still defaults to root"
            )
        else:
            v.ok(f"compose runs service {a.app} as user {compose_user}")
    return v


def _is_root(value: str) -> bool:
    name = value.strip().split(":", 1)[0].strip()
    return name == "root" or (name.isdigit() and int(name) == 0)


def _root_text(value: str) -> str:
    return value if value.split(":", 1)[0].strip() == "root" else f"{value} (root)"


def _nonroot_base(ref: ImageRef | None) -> str | None:
    if ref is None:
        return None
    tag = (ref.tag or "").lower()
    if "distroless" in ref.repository and "nonroot" in tag:
        return "nonroot (65532)"
    if ref.registry == "cgr.dev" and "-dev" not in tag and tag != "dev":
        return "nonroot (65532)"
    return None


def _security_practices(a: Analysis) -> _Verdict:
    v = _Verdict()
    _dockerfile_secrets(a, v)
    _compose_secrets(a, v)
    _pinned_images(a, v)
    db = a.service(a.db)
    for port in as_list(db.get("ports")):
        v.fail(f"The database service {a.db} publishes port {_port_text(port)} to the host.")
    for stage in a.dockerfile.stages:
        for instruction in stage.instructions:
            source = instruction.args.split()[0] if instruction.args.split() else ""
            if (
                instruction.keyword == "ADD"
                and _REMOTE_SOURCE.match(source)
                and "checksum" not in instruction.flags
            ):
                v.fail(
                    f"Dockerfile line {instruction.line}: ADD downloads {source} without verifying it."
                )
            if instruction.keyword == "RUN" and _PIPE_TO_SHELL.search(instruction.args):
                v.fail(
                    f"Dockerfile line {instruction.line}: RUN pipes a download straight into a shell."
                )
    _copies_whole_context(a, v)
    if not v.failures:
        v.ok(
            "no literal secrets, unpinned images, published database port or remote code execution found"
        )
    app = a.service(a.app)
    for label, present in (
        ("read_only: true", _truthy(app.get("read_only"))),
        (
            "security_opt: no-new-privileges",
            any("no-new-privileges" in str(o) for o in as_list(app.get("security_opt"))),
        ),
        ("cap_drop: [ALL]", any(str(c).upper() == "ALL" for c in as_list(app.get("cap_drop")))),
    ):
        v.note(f"recommended (optional): {label} — {'set' if present else 'not set'}")
    return v


def _dockerfile_secrets(a: Analysis, v: _Verdict) -> None:
    pairs: list[tuple[int, str, str, str | None]] = [
        (0, "ARG", k, val) for k, val in a.dockerfile.global_args.items()
    ]
    for stage in a.dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                pairs += [
                    (instruction.line, "ARG", k, val)
                    for k, val in arg_pairs(instruction.args).items()
                ]
            elif instruction.keyword == "ENV":
                pairs += [
                    (instruction.line, "ENV", k, val)
                    for k, val in env_pairs(instruction.args).items()
                ]
    for line, keyword, key, value in pairs:
        where = f"Dockerfile line {line}" if line else "Dockerfile"
        if value and _literal_secret(key, value):
            v.fail(f"{where}: {keyword} {key} holds a literal secret.")


def _compose_secrets(a: Analysis, v: _Verdict) -> None:
    for name, raw in a.raw_services.items():
        for key, value in env_dict(raw.get("environment")).items():
            if value is None:
                continue
            if _literal_secret(key, value):
                v.fail(f"Service {name}: {key} is a literal secret in the compose file.")
            elif _secret_key(key) and _LITERAL_FALLBACK.search(value):
                v.fail(f"Service {name}: {key} falls back to a literal secret ({value}).")
        build = raw.get("build")
        args = env_dict(build.get("args")) if isinstance(build, dict) else {}
        for key, value in args.items():
            if value and _literal_secret(key, value):
                v.fail(f"Service {name}: build arg {key} is a literal secret.")
    for name, service in a.services.items():
        env = env_dict(service.get("environment"))
        if str(env.get("POSTGRES_HOST_AUTH_METHOD") or "").lower() == "trust":
            v.fail(
                f"Service {name}: POSTGRES_HOST_AUTH_METHOD=trust turns off the database password."
            )
        for key in ("MYSQL_ALLOW_EMPTY_PASSWORD", "ALLOW_EMPTY_PASSWORD"):
            if str(env.get(key) or "").lower() in _TRUE:
                v.fail(f"Service {name}: {key} lets the database run without a password.")


def _secret_key(key: str) -> bool:
    """PASSWORD, DB_PASS, API_KEY, JWT_SECRET... but not DB_PASSWORD_FILE or TOKEN_TTL."""
    words = [w for w in re.split(r"[^A-Z0-9]+", key.upper()) if w]
    if not words or words[-1] in _NOT_SECRET_LAST:
        return False
    if any(w in _SECRET_WORDS or w.endswith(_SECRET_SUFFIXES) for w in words):
        return True
    return any(a in _KEY_KINDS and b == "KEY" for a, b in zip(words, words[1:], strict=False))


def _literal_secret(key: str, value: str) -> bool:
    """A secret typed into the file: a secret-looking key with a literal, or a credential
    in the value itself (a URL with a password, a private key, a known token format)."""
    if _SECRET_VALUE.search(value):
        return True
    url = _URL_CREDENTIALS.match(value)
    if url and ":" in url.group("userinfo"):
        password = url.group("userinfo").split(":", 1)[1]
        if password and not has_variable(password):
            return True
    return _secret_key(key) and not has_variable(value) and value.strip() != ""


def _pinned_images(a: Analysis, v: _Verdict) -> None:
    for stage in a.dockerfile.stages:
        resolved = resolve_base(a.dockerfile, stage, a.build_args)
        if len(resolved.chain) > 1 or resolved.ref is None or resolved.text == "scratch":
            continue  # a stage alias, or unresolvable (reported by the base-image rule)
        if _unpinned(resolved.ref):
            v.fail(
                f"Dockerfile line {stage.line}: FROM {resolved.text} is not pinned to a version."
            )
    for name, service in a.services.items():
        ref = service_image(service)
        if name == a.app or service.get("build") or ref is None:
            continue  # the app's own tag is the tagging rule's business
        if _unpinned(ref):
            v.fail(f"Service {name}: image {ref} is not pinned to a version.")


def _unpinned(ref: ImageRef) -> bool:
    return ref.digest is None and (ref.tag is None or ref.tag.lower() == "latest")


def _copies_whole_context(a: Analysis, v: _Verdict) -> None:
    ignore = a.submission.files.get(".dockerignore", b"").decode("utf-8", "replace")
    for instruction in a.final.stage.instructions:
        sources = instruction.args.split()[:-1]
        if (
            instruction.keyword in ("COPY", "ADD")
            and "from" not in instruction.flags
            and any(s in (".", "./") for s in sources)
            and "secrets" not in ignore
        ):
            v.note(
                f"warning: Dockerfile line {instruction.line} copies the whole build context into the "
                "final image and no .dockerignore excludes secrets/ (the runtime check looks for them)"
            )


def _resource_limits(a: Analysis) -> _Verdict:
    v = _Verdict()
    if not a.services:
        v.fail("The compose file has no services.")
    for name, service in a.services.items():
        memory, cpus = resource_limits(service)
        reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations")
        if not memory:
            v.fail(f"Service {name} has no memory limit.")
        if not cpus:
            v.fail(f"Service {name} has no CPU limit.")
        if memory and cpus:
            v.ok(f"service {name}: memory {memory / 1024**2:.0f} MiB, cpus {cpus:g}")
        elif reservations:
            v.note(f"service {name} has reservations, which are guarantees, not limits")
    return v


def resource_limits(service: Mapping[str, Any]) -> tuple[float, float]:
    """(memory bytes, CPUs) limits of a normalised service; 0 where there is none."""
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = _number(limits.get("memory")) or _number(service.get("mem_limit"))
    cpus = _number(limits.get("cpus")) or _number(service.get("cpus"))
    if not cpus and _number(service.get("cpu_quota")):
        cpus = _number(service.get("cpu_quota")) / (_number(service.get("cpu_period")) or 100_000)
    return max(memory, 0.0), max(cpus, 0.0)


def _health_checks(a: Analysis) -> _Verdict:
    v = _Verdict()
    if a.app is None:
        v.fail(NO_APP)
    else:
        source, test = app_healthcheck(a)
        _judge_healthcheck(v, f"The app service {a.app}", source, test)
    if a.db is None:
        v.fail(NO_DB)
        return v
    db_check = a.service(a.db).get("healthcheck")
    _judge_healthcheck(v, f"The database service {a.db}", "compose", _compose_test(db_check))
    condition = ((a.service(a.app).get("depends_on") or {}).get(a.db) or {}).get("condition")
    if condition == "service_healthy":
        v.ok(f"{a.app} depends on {a.db} with condition: service_healthy")
    elif a.app is not None:
        shown = f"condition: {condition}" if condition else "no depends_on"
        v.fail(
            f"The app does not wait for a healthy database ({shown}); use condition: service_healthy."
        )
    return v


def app_healthcheck(a: Analysis) -> tuple[str, list[str] | None]:
    """The healthcheck the app really gets: compose overrides the Dockerfile's."""
    compose_check = a.service(a.app).get("healthcheck")
    if isinstance(compose_check, dict) and (
        compose_check.get("disable") or compose_check.get("test")
    ):
        return "compose", _compose_test(compose_check)
    instruction = a.final.healthcheck
    if instruction is None:
        return "Dockerfile", None
    if instruction.args.strip().upper() == "NONE":
        return "Dockerfile", ["NONE"]
    command = instruction.args.strip()
    command = command[3:].strip() if command.upper().startswith("CMD") else command
    return f"Dockerfile line {instruction.line}", ["CMD", *exec_or_shell(command)]


def _compose_test(check: Any) -> list[str] | None:
    if not isinstance(check, dict):
        return None
    if _truthy(check.get("disable")):
        return ["NONE"]
    test = check.get("test")
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [str(t) for t in test] if test else None


def _judge_healthcheck(v: _Verdict, who: str, source: str, test: list[str] | None) -> None:
    if not test:
        v.fail(f"{who} has no healthcheck.")
    elif test[0].upper() == "NONE":
        v.fail(f"{who}'s healthcheck is disabled ({source}).")
    else:
        command = " ".join(test[1:]) if test[0].upper() in ("CMD", "CMD-SHELL") else " ".join(test)
        shell = command.removeprefix("/bin/sh -c ").replace("$$", "$")
        if _TRIVIAL_TEST.search(shell):
            v.fail(f"{who}'s healthcheck always succeeds ({shell!r}), so it checks nothing.")
        else:
            v.ok(f"{who.removeprefix('The ')} healthcheck ({source}): {shell}")


def _environment_config(a: Analysis) -> _Verdict:
    v = _Verdict()
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
            else "NODE_ENV=production is set neither in the Dockerfile nor in the compose file."
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
        return text not in _FALSE
    if upper.endswith("_DEBUG") or upper.startswith("DEBUG_"):
        return text in _TRUE
    return upper == "NODE_OPTIONS" and "--inspect" in text


def _judge_app_volume(a: Analysis, v: _Verdict, volume: Any) -> None:
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


def _literal_credentials(a: Analysis, v: _Verdict) -> None:
    found = False
    for name, raw in a.raw_services.items():
        for key, value in env_dict(raw.get("environment")).items():
            if value is None or has_variable(value) and not _literal_in_url(value):
                continue
            user_key = _USER_KEY.search(key) and (name == a.db or _CREDENTIAL_CONTEXT.search(key))
            if _secret_key(key) or user_key or _literal_in_url(value):
                found = True
                v.fail(f"Service {name}: the credential {key} is written into the compose file.")
    if not found:
        v.ok("credentials come from variables, env_file or secrets")


def _literal_in_url(value: str) -> bool:
    match = _URL_CREDENTIALS.match(value)
    if not match:
        return False
    return any(
        part and not _WHOLE_VARIABLE.match(part) for part in match.group("userinfo").split(":", 1)
    )


def _tagging_strategy(a: Analysis) -> _Verdict:
    v = _Verdict()
    if a.app is None:
        v.fail(NO_APP)
    else:
        raw_image = a.raw(a.app).get("image")
        resolved = a.service(a.app).get("image")
        if not isinstance(resolved, str) or not resolved.strip():
            v.fail(f"The app service {a.app} has no image: name and tag.")
        else:
            _judge_app_tag(v, str(raw_image or resolved), image_ref(resolved))
    db_ref = service_image(a.service(a.db)) if a.db else None
    if a.db is None:
        v.fail(NO_DB)
    elif db_ref is None:
        v.fail(f"The database service {a.db} has no image.")
    elif db_ref.digest or (db_ref.tag and db_ref.tag[0].isdigit()):
        v.ok(f"database image {db_ref} is pinned to a version")
    else:
        v.fail(f"The database image {db_ref} is not pinned to a version (e.g. postgres:14-alpine).")
    return v


def _judge_app_tag(v: _Verdict, raw: str, ref: ImageRef) -> None:
    raw_tag = image_ref(raw).tag
    from_variables = bool(raw_tag and has_variable(raw_tag))
    shown = f"{raw} (resolves to {ref})" if raw != str(ref) else raw
    tag = ref.tag or ""
    if ref.tag is None:
        v.fail(f"The app image {shown} has no tag, which means latest.")
    elif tag.lower() in _BAD_TAGS:
        v.fail(f"The app image tag {tag!r} says nothing about the version ({shown}).")
    elif _TIMESTAMP.match(tag):
        v.fail(f"The app image tag {tag!r} is a bare timestamp, not a version ({shown}).")
    elif _SEMVER.match(tag):
        v.ok(f"app image {shown} has a semantic version tag")
    elif from_variables:
        v.ok(f"app image {shown} is tagged from build variables")
    else:
        v.fail(f"The app image tag {tag!r} is not a version like 1.2.3 or 1.2.3-b42 ({shown}).")


# --- runtime confirmations --------------------------------------------------------------------


def runtime_confirm(
    results: list[CheckResult], plan: SandboxPlan, observed: RuntimeObservations
) -> list[CheckResult]:
    """Each check passes in full mode only if its static rule and its runtime confirmation do."""
    confirmations: dict[
        str, Callable[[SandboxPlan, RuntimeObservations], tuple[bool, list[str]]]
    ] = {
        "minimal-base-image": _confirm_size,
        "non-root-user": _confirm_uid,
        "security-practices": _confirm_no_canary,
        "resource-limits": _confirm_limits,
        "health-checks": _confirm_health,
        "tagging-strategy": _confirm_tag,
    }
    merged = []
    for result in results:
        confirm = confirmations.get(result.id)
        if confirm is None:
            merged.append(result)
            continue
        if not observed.build_ok:
            ok, lines = False, [NOT_BUILT.format(reason=observed.build_error or "unknown reason")]
        else:
            ok, lines = confirm(plan, observed)
        summary = result.summary
        if result.passed and not ok:
            summary = lines[0].removeprefix(RUNTIME_PREFIX)
        merged.append(
            CheckResult(
                result.id, result.passed and ok, summary, [*result.evidence, *lines], result.hint
            )
        )
    for note in observed.notes:
        target = _note_check(note)
        next(r for r in merged if r.id == target).evidence.append(note)
    return merged


def _note_check(note: str) -> str:
    """Which check a runtime `sandbox:` note belongs under, by what it talks about."""
    text = note.lower()
    if any(word in text for word in ("memory", "cpu", "limit", "pids")):
        return "resource-limits"
    if "port" in text or "network" in text:
        return "security-practices"
    return "environment-config"


def _confirm_size(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    if o.final_image_size is None:
        return False, ["runtime: the final image size could not be measured"]
    final = f"{o.final_image_size / 1e6:.1f} MB"
    if not o.dev_image_size:
        return True, [f"runtime: final image {final}; no development baseline to compare with"]
    ratio = o.final_image_size / o.dev_image_size
    line = f"final image {final} vs development image {o.dev_image_size / 1e6:.1f} MB ({ratio:.0%})"
    if ratio <= 0.6:
        return True, [f"runtime: {line}"]
    return False, [f"runtime: the final image is more than 60% of the development image: {line}"]


def _confirm_uid(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    name = plan.app_service
    app = o.services.get(name)
    missing = _did_not_run(name, app, o)
    if missing or app is None or app.uid is None:
        return False, [missing or f"runtime: not confirmed: `id -u` could not run in {name}"]
    if app.uid.strip() == "0":
        return False, [f"runtime: `id -u` in the running {name} container is 0 (root)"]
    return True, [f"runtime: `id -u` in the running {name} container is {app.uid.strip()}"]


def _confirm_no_canary(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    if o.canary_hits:
        hits = ", ".join(o.canary_hits)
        return False, [f"runtime: a secret value was found in the final image ({hits})"]
    return True, [
        "runtime: no secret value found in the image's filesystem, environment or history"
    ]


def _confirm_limits(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    failures, confirmed = [], []
    for name in plan.services:
        seen = o.services.get(name)
        missing = _did_not_run(name, seen, o)
        if missing or seen is None:
            failures.append(missing or f"runtime: not confirmed: {name} did not run")
        elif not seen.memory_limit or not seen.nano_cpus:
            failures.append(f"runtime: container {name} runs without a memory or CPU limit")
        else:
            memory, cpus = seen.memory_limit / 1024**2, seen.nano_cpus / 1e9
            confirmed.append(f"runtime: container {name}: memory {memory:.0f} MiB, cpus {cpus:g}")
    return not failures, [*failures, *confirmed]


def _confirm_health(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    failures, confirmed = [], []
    for name in filter(None, (plan.app_service, plan.db_service)):
        seen = o.services.get(name)
        missing = _did_not_run(name, seen, o)
        if missing or seen is None:
            failures.append(missing or f"runtime: not confirmed: {name} did not run")
        elif not seen.health_ok:
            output = _short(seen.health_output) or "no output"
            failures.append(f"runtime: the healthcheck of {name} failed{_ended(seen)}: {output}")
        else:
            confirmed.append(f"runtime: the healthcheck of {name} succeeds")
    if o.http_health_status == 200:
        confirmed.append("runtime: GET /health answers 200")
    elif o.http_health_status is None:
        failures.append(
            f"runtime: GET /health got no answer ({_short(o.http_health_detail) or 'not probed'})"
        )
    else:
        detail = f" ({_short(o.http_health_detail)})" if o.http_health_detail else ""
        failures.append(f"runtime: GET /health answers {o.http_health_status}{detail}")
    return not failures, [*failures, *confirmed]


def _confirm_tag(plan: SandboxPlan, o: RuntimeObservations) -> tuple[bool, list[str]]:
    tag = _canonical(plan.app_image_tag)
    tags = {_canonical(t) for t in o.final_image_tags}
    app = o.services.get(plan.app_service)
    if tag not in tags:
        return False, [f"runtime: the built image is not tagged {plan.app_image_tag}"]
    if app is None:
        return False, [_did_not_run(plan.app_service, app, o) or ""]
    if _canonical(app.image) != tag:
        return False, [
            f"runtime: the {plan.app_service} container runs {app.image}, not {plan.app_image_tag}"
        ]
    return True, [f"runtime: the built image is tagged {plan.app_image_tag} and the stack runs it"]


def _canonical(reference: str) -> str:
    text = reference.removeprefix("docker.io/").removeprefix("library/")
    return text if ":" in text.rsplit("/", 1)[-1] or "@" in text else f"{text}:latest"


def _did_not_run(name: str, seen: Any, o: RuntimeObservations) -> str | None:
    """The evidence line for a service that never ran, or None if it started."""
    if seen is not None and seen.started:
        return None
    reason = (seen.health_output if seen is not None else "") or o.run_error or "not started"
    return f"runtime: not confirmed: {name} did not run ({_short(reason)})"


def _ended(seen: Any) -> str:
    if seen.oom_killed:
        return " (killed: out of memory)"
    return f" (exited with code {seen.exit_code})" if seen.exit_code is not None else ""


def _short(text: str | None, limit: int = 200) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- extensions (bonus, never change the status) ----------------------------------------------

_MONITORING = re.compile(
    r"prometheus|grafana|cadvisor|node-exporter|alertmanager|loki|promtail|datadog|newrelic|"
    r"opentelemetry|otel|netdata|victoriametrics|zabbix|uptime-kuma|jaeger|tempo|exporter"
)
_BACKUP = re.compile(
    r"backup|pg_dump|pg_basebackup|pgbackrest|wal-g|restic|borg|duplicity|mysqldump|mongodump"
)
_LOG_SHIPPERS = frozenset(
    {"fluentd", "gelf", "syslog", "journald", "awslogs", "splunk", "gcplogs", "loki", "logentries"}
)
_CI_FILES = re.compile(
    r"^(\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.ya?ml|Jenkinsfile|\.circleci/config\.ya?ml|"
    r"azure-pipelines\.ya?ml|bitbucket-pipelines\.ya?ml|\.drone\.ya?ml|\.travis\.ya?ml|"
    r"cloudbuild\.ya?ml|buildspec\.ya?ml|\.woodpecker(\.ya?ml|/[^/]+\.ya?ml)|\.buildkite/[^/]+\.ya?ml|"
    r"\.tekton/[^/]+\.ya?ml)$"
)
_CI_BUILDS = re.compile(
    r"docker\s+(build|push|compose)|buildx|build-push-action|kaniko|buildah|docker/login-action",
    re.I,
)


def extensions(a: Analysis) -> list[Extension]:
    """The lecture's Challenge Extension, reported as bonus items."""
    return [
        _logging(a),
        _monitoring(a),
        _backups(a),
        _segmentation(a),
        _pipeline(a),
    ]


def _logging(a: Analysis) -> Extension:
    evidence = []
    for name, service in a.services.items():
        logging = service.get("logging") or {}
        driver = logging.get("driver") or "json-file"
        options = logging.get("options") or {}
        if "max-size" in options or driver == "local" or driver in _LOG_SHIPPERS:
            shown = ", ".join(f"{k}={v}" for k, v in options.items())
            evidence.append(
                f"service {name}: logging driver {driver}" + (f" ({shown})" if shown else "")
            )
    return Extension("logging", "Production-grade logging with rotation", bool(evidence), evidence)


def _monitoring(a: Analysis) -> Extension:
    evidence = [
        f"service {name}: {service.get('image')}"
        for name, service in a.services.items()
        if _MONITORING.search(str(service.get("image") or "").lower())
    ]
    return Extension(
        "monitoring", "Monitoring (e.g. Prometheus and Grafana)", bool(evidence), evidence
    )


def _backups(a: Analysis) -> Extension:
    db_volumes = {
        str(volume.get("source"))
        for volume in as_list(a.service(a.db).get("volumes"))
        if isinstance(volume, dict) and volume.get("source")
    }
    evidence = []
    for name, service in a.services.items():
        if name == a.db:
            continue
        text = (
            " ".join(str(service.get(k) or "") for k in ("image", "command", "entrypoint"))
            + " "
            + name
        )
        shares = {
            str(v.get("source")) for v in as_list(service.get("volumes")) if isinstance(v, dict)
        } & db_volumes
        if _BACKUP.search(text.lower()) or shares and "backup" in text.lower():
            evidence.append(
                f"service {name} backs up the database"
                + (f" (volume {', '.join(sorted(shares))})" if shares else "")
            )
    for path, content in a.submission.files.items():
        if (
            path not in (a.submission.dockerfile, a.submission.compose)
            and _BACKUP.search(content.decode("utf-8", "replace"))
            and re.search(
                r"pg_dump|mysqldump|mongodump|restic|borg|wal-g|pgbackrest",
                content.decode("utf-8", "replace"),
            )
        ):
            evidence.append(f"{path} holds a backup procedure")
    return Extension(
        "backups", "Backup and restore of the database volume", bool(evidence), evidence
    )


def _segmentation(a: Analysis) -> Extension:
    networks = a.config.get("networks") or {}
    db_networks = list((a.service(a.db).get("networks") or {}).keys()) if a.db else []
    internal = [n for n in db_networks if (networks.get(n) or {}).get("internal")]
    evidence = []
    if len(networks) > 1 or set(networks) - {"default"}:
        evidence.append(f"networks: {', '.join(sorted(networks))}")
    present = bool(db_networks) and len(internal) == len(db_networks)
    if present:
        evidence.append(f"the database is only on internal network(s): {', '.join(internal)}")
    elif a.db and db_networks:
        evidence.append(
            f"the database is on non-internal network(s): {', '.join(n for n in db_networks if n not in internal)}"
        )
    return Extension(
        "network-segmentation",
        "Network segmentation (database on an internal network)",
        present,
        evidence,
    )


def _pipeline(a: Analysis) -> Extension:
    evidence = []
    for path, content in sorted(a.submission.files.items()):
        if _CI_FILES.match(path):
            builds = bool(_CI_BUILDS.search(content.decode("utf-8", "replace")))
            evidence.append(f"{path}" + (" builds and pushes the image" if builds else ""))
    return Extension("ci-cd", "A CI/CD pipeline for automated deployment", bool(evidence), evidence)


# --- helpers ----------------------------------------------------------------------------------


def _hadolint_evidence(a: Analysis) -> dict[str, list[str]]:
    extra: dict[str, list[str]] = {}
    has_healthcheck = a.app is not None and (app_healthcheck(a)[1] or ["NONE"])[0].upper() != "NONE"
    for finding in a.findings:
        if finding.code == "DL3057" and has_healthcheck:
            continue  # hadolint judges each stage alone; the app's healthcheck is what counts
        check_id = _HADOLINT_CHECK.get(finding.code, "security-practices")
        line = f"hadolint {finding.code} (line {finding.line}, {finding.level}): {finding.message}"
        extra.setdefault(check_id, []).append(line)
    if a.hadolint_problem:
        extra.setdefault("security-practices", []).append(f"hadolint: {a.hadolint_problem}")
    return extra


def _alias(stage: Stage) -> str:
    return f" ({stage.alias})" if stage.alias else ""


def _port_text(port: Any) -> str:
    if isinstance(port, dict):
        host = f"{port['host_ip']}:" if port.get("host_ip") else ""
        return f"{host}{port.get('published') or ''}:{port.get('target')}".lstrip(":")
    return str(port)


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def _relative(path: Path, root: Path) -> str:
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
    return "./" if relative == "." else f"./{relative}"
