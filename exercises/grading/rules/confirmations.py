"""Runtime confirmations: each check passes in full mode only if its static rule and what
the sandbox saw agree. Evidence lines start with `runtime:`; what the sandbox changed is
said separately, never presented as the learner's own setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..references import reference_key
from ..types import CheckResult, RuntimeObservations, SandboxPlan
from .references import image_ref, minimal_kind
from .values import mebibytes, service_limits

RUNTIME_PREFIX = "runtime: "
NOT_BUILT = "runtime: not confirmed: the image did not build ({reason})"
STANDIN_FOR = "org.drydock.standin.for"
NO_HEALTHCHECK = "runtime: {name} has no health check defined"
HEALTH_DB_DOWN_PASSES = (
    "runtime: the healthcheck of {name} still succeeds with the database stopped, so it "
    "cannot report an outage"
)
HEALTH_DB_DOWN_FAILS = (
    "runtime: with the database stopped, the healthcheck of {name} fails, as it should"
)
SUPPLIED_FILE = (
    "runtime: warning: {where} in the image is {file}, a file the grader wrote into your project; "
    "it is not counted against you, but keep such files out of the image (.dockerignore)"
)
LIMITS_SHARED = (
    "runtime: container {name}: your limits are {yours}; the sandbox ran it with {applied}, "
    "its share of the job's ceiling"
)
_SUPPLIED_SKIP = frozenset({"node_modules", "dist", ".drydock-volumes", ".git"})
_SUPPLIED_MAX_BYTES = 64 * 1024

Confirmation = Callable[[SandboxPlan, RuntimeObservations, CheckResult], tuple[bool, list[str]]]


def runtime_confirm(
    results: list[CheckResult], plan: SandboxPlan, observed: RuntimeObservations
) -> list[CheckResult]:
    """Each check passes in full mode only if its static rule and its runtime confirmation do."""
    confirmations: dict[str, Confirmation] = {
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
            ok, lines = confirm(plan, observed, result)
        summary = result.summary
        if result.passed and not ok:
            summary = lines[0].removeprefix(RUNTIME_PREFIX)
        merged.append(
            CheckResult(
                result.id, result.passed and ok, summary, [*result.evidence, *lines], result.hint
            )
        )
    for note in observed.notes:
        target = note_check(note)
        next(r for r in merged if r.id == target).evidence.append(note)
    return merged


def note_check(note: str) -> str:
    """Which check a runtime `sandbox:` note belongs under, by what it talks about."""
    text = note.lower()
    if any(word in text for word in ("memory", "cpu", "limit", "pids")):
        return "resource-limits"
    if "health" in text:
        return "health-checks"
    if "port" in text or "network" in text or "secret" in text:
        return "security-practices"
    return "environment-config"


def _confirm_size(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    """Minimal or full is decided from the image: a stand-in base says what it stands in
    for (its label); otherwise the size against the development image decides."""
    size = f"{o.final_image_size / 1e6:.1f} MB" if o.final_image_size is not None else None
    base = o.final_image_labels.get(STANDIN_FOR)
    if base:
        kind = minimal_kind(image_ref(base))
        shown = f" ({size})" if size else ""
        if kind:
            return True, [f"runtime: the final image is built on {base}, {kind}{shown}"]
        return False, [f"runtime: the final image is built on {base}, a full image{shown}"]
    if o.final_image_size is None:
        return False, ["runtime: the final image size could not be measured"]
    if not o.dev_image_size:
        return True, [f"runtime: final image {size}; no development baseline to compare with"]
    ratio = o.final_image_size / o.dev_image_size
    line = f"final image {size} vs development image {o.dev_image_size / 1e6:.1f} MB ({ratio:.0%})"
    if ratio <= 0.6:
        return True, [f"runtime: {line}"]
    return False, [f"runtime: the final image is more than 60% of the development image: {line}"]


def _confirm_uid(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    name = plan.app_service
    app = o.services.get(name)
    missing = did_not_run(name, app, o)
    if missing or app is None or app.uid is None:
        return False, [missing or f"runtime: not confirmed: `id -u` could not run in {name}"]
    if app.uid.strip() == "0":
        return False, [f"runtime: `id -u` in the running {name} container is 0 (root)"]
    return True, [f"runtime: `id -u` in the running {name} container is {app.uid.strip()}"]


def _confirm_no_canary(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    """A secret value in the image is the learner's leak, unless it is a file the grader
    itself wrote into the project (a secret file, an env file) copied in verbatim."""
    supplied = supplied_files(plan) if o.canary_hits else []
    leaks, warnings = [], []
    for hit in o.canary_hits:
        file = _supplied_match(hit, supplied)
        if file:
            warnings.append(SUPPLIED_FILE.format(where=hit.removeprefix("file:"), file=file))
        else:
            leaks.append(hit)
    if leaks:
        return False, [
            f"runtime: a secret value was found in the final image ({', '.join(leaks)})",
            *warnings,
        ]
    return True, [
        "runtime: no secret value of yours found in the image's filesystem, environment or history",
        *warnings,
    ]


def supplied_files(plan: SandboxPlan) -> list[str]:
    """Project files the grader wrote: those holding a generated secret value (no learner
    can know one). Relative POSIX paths."""
    needles = [c.encode() for c in plan.canaries if c]
    if not needles:
        return []
    return [name for name, content in _project_files(plan) if any(n in content for n in needles)]


def _project_files(plan: SandboxPlan) -> list[tuple[str, bytes]]:
    """The job's project as (relative path, bytes): from the job spec's `files` (the
    sandbox's plan of bytes) or, with a plan that still points at a scratch `workdir`,
    read from there."""
    files = getattr(plan, "files", None)
    if isinstance(files, dict):
        return [
            (name, getattr(item, "content", item))
            for name, item in files.items()
            if name.split("/", 1)[0] not in _SUPPLIED_SKIP
        ]
    workdir = getattr(plan, "workdir", None)
    if not isinstance(workdir, Path) or not workdir.is_dir():
        return []
    found = []
    for path in sorted(workdir.rglob("*")):
        relative = path.relative_to(workdir)
        if relative.parts[0] in _SUPPLIED_SKIP or path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_size <= _SUPPLIED_MAX_BYTES:
                found.append((relative.as_posix(), path.read_bytes()))
        except OSError:
            continue
    return found


def _supplied_match(hit: str, supplied: list[str]) -> str | None:
    if not hit.startswith("file:"):
        return None
    path = hit.removeprefix("file:")
    return next((f for f in supplied if path == f"/{f}" or path.endswith(f"/{f}")), None)


def _confirm_limits(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    """The learner's own limits, as the containers got them; the sandbox's ceilings and
    clamps are said separately."""
    failures, confirmed = [], []
    for name in plan.services:
        seen = o.services.get(name)
        missing = did_not_run(name, seen, o)
        if missing or seen is None:
            failures.append(missing or f"runtime: not confirmed: {name} did not run")
            continue
        declared = service_limits(plan.services[name])
        if not seen.memory_limit or not seen.nano_cpus:
            failures.append(f"runtime: container {name} runs without a memory or CPU limit")
            continue
        applied = f"memory {mebibytes(seen.memory_limit)}, cpus {seen.nano_cpus / 1e9:g}"
        if not declared.memory or not declared.cpus:
            failures.append(
                f"runtime: container {name} runs without a {'memory' if not declared.memory else 'CPU'} "
                f"limit of yours (the sandbox's own ceiling applied: {applied})"
            )
            continue
        clamped = [
            what
            for what, key in (("memory", "memory limit"), ("CPU", "CPU limit"))
            if any(
                f"service {name}'s {key}" in line and "clamped" in line for line in result.evidence
            )
        ]
        yours = f"memory {mebibytes(declared.memory)}, cpus {declared.cpus:g}"
        lowered = seen.memory_limit < declared.memory - 2**20 or (
            seen.nano_cpus / 1e9 < declared.cpus - 0.01
        )
        line = f"runtime: container {name} runs with your limits: {applied}"
        if clamped:
            line = (
                f"runtime: container {name} runs with {applied}: your {' and '.join(clamped)} "
                "limit, clamped by the sandbox to its maximum"
            )
        elif lowered:
            line = LIMITS_SHARED.format(name=name, yours=yours, applied=applied)
        confirmed.append(line)
    return not failures, [*failures, *confirmed]


def _confirm_health(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    failures, confirmed = [], []
    for name in filter(None, (plan.app_service, plan.db_service)):
        seen = o.services.get(name)
        missing = did_not_run(name, seen, o)
        if missing or seen is None:
            failures.append(missing or f"runtime: not confirmed: {name} did not run")
        elif seen.healthcheck is None and seen.health_ok is None:
            failures.append(NO_HEALTHCHECK.format(name=name))
        elif not seen.health_ok:
            output = short(seen.health_output) or "no output"
            failures.append(f"runtime: the healthcheck of {name} failed{_ended(seen)}: {output}")
        else:
            confirmed.append(f"runtime: the healthcheck of {name} succeeds")
            if seen.health_ok_db_down is True:
                failures.append(HEALTH_DB_DOWN_PASSES.format(name=name))
            elif seen.health_ok_db_down is False:
                confirmed.append(HEALTH_DB_DOWN_FAILS.format(name=name))
    if o.http_health_status == 200:
        confirmed.append("runtime: GET /health answers 200")
    elif o.http_health_status is None:
        failures.append(
            f"runtime: GET /health got no answer ({short(o.http_health_detail) or 'not probed'})"
        )
    else:
        detail = f" ({short(o.http_health_detail)})" if o.http_health_detail else ""
        failures.append(f"runtime: GET /health answers {o.http_health_status}{detail}")
    return not failures, [*failures, *confirmed]


def _confirm_tag(
    plan: SandboxPlan, o: RuntimeObservations, result: CheckResult
) -> tuple[bool, list[str]]:
    tag = _canonical(plan.app_image_tag)
    tags = {_canonical(t) for t in o.final_image_tags}
    app = o.services.get(plan.app_service)
    if tag not in tags:
        return False, [f"runtime: the built image is not tagged {plan.app_image_tag}"]
    if app is None:
        return False, [did_not_run(plan.app_service, app, o) or ""]
    if _canonical(app.image) != tag:
        return False, [
            f"runtime: the {plan.app_service} container runs {app.image}, not {plan.app_image_tag}"
        ]
    return True, [f"runtime: the built image is tagged {plan.app_image_tag} and the stack runs it"]


def _canonical(reference: str) -> str:
    """One spelling per image (`node:22` is `docker.io/library/node:22`): the grader's parser."""
    return reference_key(reference) or reference


def did_not_run(name: str, seen: Any, o: RuntimeObservations) -> str | None:
    """The evidence line for a service that never ran, or None if it started."""
    if seen is not None and seen.started:
        return None
    reason = (seen.health_output if seen is not None else "") or o.run_error or "not started"
    return f"runtime: not confirmed: {name} did not run ({short(reason)})"


def _ended(seen: Any) -> str:
    if seen.oom_killed:
        return " (killed: out of memory)"
    return f" (exited with code {seen.exit_code})" if seen.exit_code is not None else ""


def short(text: str | None, limit: int = 200) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
