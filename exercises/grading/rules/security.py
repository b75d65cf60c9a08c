"""Check 3, security-practices: no literal secrets, every image pinned wherever it is
named (FROM, COPY --from, image:), no published database port, no unverified downloads."""

from __future__ import annotations

import re

from ..capabilities import DEFAULT_CAPABILITIES, cap_name, is_capability
from ..compose import as_list, env_dict, interpolate, service_image
from ..dockerfile import arg_pairs, env_pairs, resolve_base
from .analysis import Analysis, Verdict
from .references import floating_reason, image_ref
from .secrets import literal_fallback, literal_secret
from .values import port_text, truthy

_PIPE_TO_SHELL = re.compile(
    r"\b(curl|wget)\b[^|;&\n]*\|\s*(sudo\s+)?(-?\w+=\S+\s+)*(ba|z|da|k|a)?sh\b"
    r"|\b(ba|z|da|a)?sh\s+<\(\s*(curl|wget)\b"
    r"|\b(ba|z|da|a)?sh\s+-c\s+[\"']?\$\(\s*(curl|wget)\b",
    re.I,
)
_REMOTE_SOURCE = re.compile(r"^([a-z]+://|git@)", re.I)
NOTHING_FOUND = (
    "no literal secrets, unpinned images, published database port or remote code execution found"
)
WHOLE_CONTEXT = (
    "warning: Dockerfile line {line} copies the whole build context into the final image and "
    "no .dockerignore excludes secrets/ (the runtime check looks for them)"
)


def security_practices(a: Analysis) -> Verdict:
    v = Verdict()
    _dockerfile_secrets(a, v)
    _compose_secrets(a, v)
    _pinned_images(a, v)
    for port in as_list(a.service(a.db).get("ports")):
        v.fail(f"The database service {a.db} publishes port {port_text(port)} to the host.")
    _downloads(a, v)
    _capabilities(a, v)
    _copies_whole_context(a, v)
    if not v.failures:
        v.ok(NOTHING_FOUND)
    _recommendations(a, v)
    return v


def _dockerfile_secrets(a: Analysis, v: Verdict) -> None:
    pairs: list[tuple[int, str, str, str | None]] = [
        (0, "ARG", k, val) for k, val in a.dockerfile.global_args.items()
    ]
    for stage in a.dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                found = arg_pairs(instruction.args)
            elif instruction.keyword == "ENV":
                found = dict(env_pairs(instruction.args))
            else:
                continue
            pairs += [(instruction.line, instruction.keyword, k, val) for k, val in found.items()]
    for line, keyword, key, value in pairs:
        where = f"Dockerfile line {line}" if line else "Dockerfile"
        if value and literal_secret(key, value):
            v.fail(f"{where}: {keyword} {key} holds a literal secret.")


def _compose_secrets(a: Analysis, v: Verdict) -> None:
    for name, raw in a.raw_services.items():
        for key, value in env_dict(raw.get("environment")).items():
            if value is None:
                continue
            fallback = literal_fallback(key, value)
            if literal_secret(key, value):
                v.fail(f"Service {name}: {key} is a literal secret in the compose file.")
            elif fallback:
                v.fail(f"Service {name}: {key} falls back to a literal secret ({value}).")
        build = raw.get("build")
        args = env_dict(build.get("args")) if isinstance(build, dict) else {}
        for key, value in args.items():
            if value and literal_secret(key, value):
                v.fail(f"Service {name}: build arg {key} is a literal secret.")
    for name, service in a.services.items():
        env = env_dict(service.get("environment"))
        if str(env.get("POSTGRES_HOST_AUTH_METHOD") or "").lower() == "trust":
            v.fail(
                f"Service {name}: POSTGRES_HOST_AUTH_METHOD=trust turns off the database password."
            )
        for key in ("MYSQL_ALLOW_EMPTY_PASSWORD", "ALLOW_EMPTY_PASSWORD"):
            if truthy(env.get(key)):
                v.fail(f"Service {name}: {key} lets the database run without a password.")


def _pinned_images(a: Analysis, v: Verdict) -> None:
    scope = {k: val for k, val in a.dockerfile.global_args.items() if val is not None}
    scope.update({k: val for k, val in a.build_args.items() if k in a.dockerfile.global_args})
    for stage in a.dockerfile.stages:
        resolved = resolve_base(a.dockerfile, stage, a.build_args)
        if len(resolved.chain) == 1 and resolved.ref and resolved.text != "scratch":
            reason = floating_reason(resolved.ref)
            if reason:
                v.fail(
                    f"Dockerfile line {stage.line}: FROM {resolved.text} is not pinned to a version ({reason})."
                )
        for instruction in stage.instructions:
            source = instruction.flags.get("from") if instruction.keyword == "COPY" else None
            if not source:
                continue
            text = interpolate(source, scope, dollar_escape=False)[0]
            named = a.dockerfile.stage(text)
            if (named is not None and named.index < stage.index) or not text:
                continue  # an earlier stage, not an image
            reason = floating_reason(image_ref(text))
            if reason:
                v.fail(
                    f"Dockerfile line {instruction.line}: COPY --from={text} copies from an image that is not pinned to a version ({reason})."
                )
    for name, service in a.services.items():
        ref = service_image(service)
        if name == a.app or service.get("build") or ref is None:
            continue  # the app's own tag is the tagging rule's business
        reason = floating_reason(ref)
        if reason:
            v.fail(f"Service {name}: image {ref} is not pinned to a version ({reason}).")


def _downloads(a: Analysis, v: Verdict) -> None:
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


def _copies_whole_context(a: Analysis, v: Verdict) -> None:
    ignore = a.submission.files.get(".dockerignore")
    if ignore is None:  # the starter's .dockerignore applies (it excludes secrets/ and .env*)
        return
    if "secrets" in ignore.decode("utf-8", "replace"):
        return
    for instruction in a.final.stage.instructions:
        sources = instruction.args.split()[:-1]
        if (
            instruction.keyword in ("COPY", "ADD")
            and "from" not in instruction.flags
            and any(s in (".", "./") for s in sources)
        ):
            v.note(WHOLE_CONTEXT.format(line=instruction.line))


def _capabilities(a: Analysis, v: Verdict) -> None:
    for name, service in (a.config.get("services") or {}).items():
        added = [cap_name(c) for c in as_list((service or {}).get("cap_add"))]
        for cap in [c for c in added if c not in DEFAULT_CAPABILITIES]:
            what = "every capability" if cap == "ALL" else f"capability {cap}"
            v.fail(
                f"Service {name} adds {what}, beyond what Docker grants by default: "
                "a compromised process gets more power over the host."
            )


def _recommendations(a: Analysis, v: Verdict) -> None:
    app = a.service(a.app)
    drops_all = any(str(c).upper() == "ALL" for c in as_list(app.get("cap_drop")))
    added = [str(c).upper() for c in as_list(app.get("cap_add"))]
    cap_text = "set" if drops_all else "not set"
    if drops_all and added:
        defaults = all(is_capability(c, DEFAULT_CAPABILITIES) for c in added)
        kind = "Docker defaults" if defaults else "beyond Docker's defaults"
        cap_text = f"set, adding back {', '.join(added)} ({kind})"
    for label, state in (
        ("read_only: true", "set" if truthy(app.get("read_only")) else "not set"),
        (
            "security_opt: no-new-privileges",
            "set"
            if any("no-new-privileges" in str(o) for o in as_list(app.get("security_opt")))
            else "not set",
        ),
        ("cap_drop: [ALL]", cap_text),
    ):
        v.note(f"recommended (optional): {label} — {state}")
