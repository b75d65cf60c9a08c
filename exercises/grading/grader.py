"""Orchestration: validate, police, normalise, check statically, then (optionally) run.

`grade_directory` and `grade_files` never raise for anything the learner did: a file that
cannot be graded becomes `status: error` with one clear line, a hostile compose file
`status: rejected`, and an unexpected bug `status: error` too (logged with its
traceback). The one exception is `InfrastructureError` (Drydock's own fault: engine
unreachable, a tool missing), which propagates so that a Celery task can retry it without
counting an attempt against the learner.

The static path is built for speed: hadolint starts as soon as the Dockerfile is read
and runs while the compose file is loaded, policed and handed to `docker-compose config`,
so the two tools overlap.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from .compose import (
    ComposeConfig,
    find_app_service,
    find_db_service,
)
from .dockerfile import Hadolint, dockerfile_parse, final_image
from .files import Submission, submission_from_files, submission_load
from .intake import Policed, police, raw_services
from .jobspec import job_spec, plan_from_spec, project_files, project_overlay
from .policy import (
    NOTE_CONFIG,
    Normalised,
    normalised_violations,
    sandbox_normalise,
)
from .rules import Analysis, extensions, runtime_confirm, static_checks
from .types import (
    CheckResult,
    EngineAddress,
    Extension,
    GradeResult,
    GradingError,
    InfrastructureError,
    PolicyViolation,
    ProgressCallback,
    RuntimeObservations,
    SandboxLimits,
    SandboxPlan,
    Stage,
    Status,
    no_progress,
)
from .workdir import (  # noqa: F401 (scratch_root, scratch_sweep, SCRATCH_ENV: the grader's API)
    SCRATCH_ENV,
    STARTER_SKIPPED,
    VOLUMES_DIR,
    Job,
    assets_dir,
    prepare_workdir,
    scratch_root,
    scratch_sweep,
)

logger = logging.getLogger(__name__)

EXERCISES = ("docker-production",)

UNKNOWN_EXERCISE = "Unknown exercise {exercise!r}."
UNEXPECTED = "Drydock could not grade this submission because of an internal error ({kind}); please try again later."
CHECKING = "Checking your files"
NO_APP_TO_RUN = "there is no application service to build"
BUILD_CONTEXT_NOTE = (
    "sandbox: your Dockerfile is built with the starter project as its context (not {context})"
)


def grade_files(
    files: Mapping[str, bytes],
    *,
    exercise: str = "docker-production",
    static_only: bool = False,
    progress: ProgressCallback = no_progress,
    limits: SandboxLimits | None = None,
    engine: EngineAddress | None = None,
    executables: Collection[str] = (),
    job_id: str | None = None,
) -> GradeResult:
    """Grade uploaded contents (relative name -> bytes), validated in memory like a directory;
    `job_id` names the job on the engine (default: a new random one)."""
    return _run(
        lambda: submission_from_files(files, executables), exercise=exercise,
        static_only=static_only, progress=progress, limits=limits, engine=engine, job_id=job_id,
    )  # fmt: skip


def grade_directory(
    path: Path,
    *,
    exercise: str = "docker-production",
    static_only: bool = False,
    progress: ProgressCallback = no_progress,
    limits: SandboxLimits | None = None,
    engine: EngineAddress | None = None,
) -> GradeResult:
    """Grade the learner files in `path` (on the grading engine `engine`, default: the one
    `DRYDOCK_GRADING_ENGINE` names). Raises only InfrastructureError (see module doc)."""
    return _run(
        lambda: submission_load(Path(path)), exercise=exercise, static_only=static_only,
        progress=progress, limits=limits, engine=engine,
    )  # fmt: skip


def grade_static(
    files: Mapping[str, bytes],
    *,
    exercise: str = "docker-production",
    executables: Collection[str] = (),
) -> tuple[GradeResult, dict[str, Any] | None]:
    """The static half of a full grading: the static result, and the job spec (JSON, see
    `jobspec.job_spec`) that `grade_runtime` runs without analysing anything again; None
    when nothing is to be run (an error or a rejection)."""
    spec: dict[str, Any] = {}
    result = _run(
        lambda: submission_from_files(files, executables), exercise=exercise, static_only=True,
        progress=no_progress, limits=None, engine=None, spec=spec,
    )  # fmt: skip
    return result, (spec if spec and result.status in (Status.PASSED, Status.FAILED) else None)


def grade_runtime(
    files: Mapping[str, bytes],
    *,
    static: Mapping[str, Any],
    spec: Mapping[str, Any],
    exercise: str = "docker-production",
    executables: Collection[str] = (),
    progress: ProgressCallback = no_progress,
    limits: SandboxLimits | None = None,
    engine: EngineAddress | None = None,
    job_id: str | None = None,
) -> GradeResult:
    """The runtime half: run the plan of `spec` and confirm the checks of `static` (both from
    `grade_static`), as job `job_id`. The files are validated again (in memory, no tool runs)
    and overlaid on the starter in memory: nothing is written to disk. Same errors as above."""
    started = time.monotonic()
    result = GradeResult(exercise=exercise, status=Status.ERROR, mode="full")
    job = Job(job_id or uuid.uuid4().hex[:12])

    def run() -> None:
        submission = submission_from_files(files, executables)
        result.checks = [CheckResult(**check) for check in static["checks"]]
        result.extensions = [Extension(**extension) for extension in static["extensions"]]
        result.timings.static_ms = int(static.get("timings", {}).get("static_ms") or 0)
        result.log = str(spec.get("log") or "")
        starter = assets_dir(exercise) / "starter"
        project = project_overlay(
            starter, submission.files, executables=submission.executables,
            supplied=spec["supplied"], skipped=STARTER_SKIPPED,
        )  # fmt: skip
        plan = plan_from_spec(spec, files=project, dev_dir=starter, job_id=job.id)
        _confirm(result, plan, limits or SandboxLimits(), progress, engine)

    return _guarded(result, job, run, started)


def _run(
    load: Callable[[], Submission],
    *,
    exercise: str,
    static_only: bool,
    progress: ProgressCallback,
    limits: SandboxLimits | None,
    engine: EngineAddress | None,
    spec: dict[str, Any] | None = None,
    job_id: str | None = None,
) -> GradeResult:
    started = time.monotonic()
    result = GradeResult(exercise=exercise, status=Status.ERROR, mode=_mode(static_only))
    job = Job(job_id or uuid.uuid4().hex[:12])

    def run() -> None:
        progress(Stage.CHECKING, CHECKING, "")
        _grade(job, load, result, limits or SandboxLimits(), progress, started, engine, spec)

    return _guarded(result, job, run, started)


def _guarded(result: GradeResult, job: Job, run: Callable[[], None], started: float) -> GradeResult:
    """Run one grading step on `result`: the learner's errors and our bugs become results,
    InfrastructureError propagates; the job's scratch directories and tools are released."""
    try:
        if result.exercise not in EXERCISES:
            raise GradingError(UNKNOWN_EXERCISE.format(exercise=result.exercise))
        run()
    except GradingError as exc:
        result.status, result.error = Status.ERROR, str(exc)
        result.checks, result.extensions = [], []
    except InfrastructureError:
        raise
    except Exception as exc:  # a bug of ours must not reach the learner as a traceback
        logger.exception("grading job %s failed", job.id)
        result.status, result.error = Status.ERROR, UNEXPECTED.format(kind=type(exc).__name__)
        result.checks, result.extensions = [], []
        result.internal = True
    finally:
        job.close()
        result.timings.total_ms = _ms(started)
        if not result.timings.static_ms:
            result.timings.static_ms = result.timings.total_ms
    return result


# --- the steps --------------------------------------------------------------------------------


def _grade(
    job: Job,
    load: Callable[[], Submission],
    result: GradeResult,
    limits: SandboxLimits,
    progress: ProgressCallback,
    started: float,
    engine: EngineAddress | None = None,
    spec: dict[str, Any] | None = None,
) -> None:
    submission = load()
    home = job.directory(".home")
    hadolint = Hadolint(submission.text(submission.dockerfile), scratch=home)
    job.tools.append(hadolint)
    policed = police(submission)
    if policed.violations:
        return _reject(result, policed.violations, started)
    workdir = prepare_workdir(job, submission, policed.inputs.files, result.exercise)
    compose = ComposeConfig(
        workdir=workdir, compose_name=submission.compose, project=job.project,
        variables=policed.inputs.variables, home=home,
    )  # fmt: skip
    job.tools.append(compose)
    config, warnings = compose.result()
    result.log = "".join(f"docker-compose: {w}\n" for w in warnings)
    violations = normalised_violations(config, workdir=workdir)
    if violations:
        return _reject(result, violations, started)
    analysis, normalised = _analyse(job, policed, config, workdir, hadolint, limits)
    result.checks = static_checks(analysis)
    result.extensions = extensions(analysis)
    result.timings.static_ms = _ms(started)
    if result.mode == "full" or spec is not None:
        planned = job_spec(
            workdir, job_id=job.id, dockerfile=analysis.dockerfile_name,
            app_service=analysis.app or "", db_service=analysis.db,
            app_image_tag=_app_image_tag(normalised.services, analysis.app, job),
            services=normalised.services, volumes=normalised.volumes, networks=normalised.networks,
            secrets=normalised.secrets, canaries=policed.inputs.canaries,
            supplied=policed.inputs.files, secret_values=policed.inputs.secret_values,
        )  # fmt: skip
        if spec is not None:  # the static pass hands its plan (and Compose's warnings) on
            spec.update(planned, log=result.log)
    if result.mode == "full":
        starter = assets_dir(result.exercise) / "starter"
        plan = plan_from_spec(planned, files=project_files(workdir), dev_dir=starter)
        return _confirm(result, plan, limits, progress, engine)
    result.status = Status.PASSED if all(c.passed for c in result.checks) else Status.FAILED


def _confirm(
    result: GradeResult,
    plan: SandboxPlan,
    limits: SandboxLimits,
    progress: ProgressCallback,
    engine: EngineAddress | None,
) -> None:
    """The runtime part: run the plan, confirm the static checks with what was observed."""
    observed = _observe(plan, limits, progress, engine)
    result.checks = runtime_confirm(result.checks, plan, observed)
    result.timings.build_ms, result.timings.run_ms = observed.build_ms, observed.run_ms
    result.log += observed.log
    result.status = Status.PASSED if all(c.passed for c in result.checks) else Status.FAILED


def _analyse(
    job: Job,
    policed: Policed,
    config: dict[str, Any],
    workdir: Path,
    hadolint: Hadolint,
    limits: SandboxLimits,
) -> tuple[Analysis, Normalised]:
    """What the static rules look at: Compose's view, the final image, hadolint's findings."""
    submission, notes = policed.submission, list(policed.inputs.notes)
    services = config.get("services") or {}
    db = find_db_service(services)
    app = find_app_service(services, db)
    build = (services.get(app) or {}).get("build") if app else None
    build = build if isinstance(build, dict) else {}
    build_args = {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None}
    dockerfile_name, dockerfile = _dockerfile_name(build, workdir, submission), policed.dockerfile
    if dockerfile_name != submission.dockerfile:
        dockerfile = dockerfile_parse(submission.text(dockerfile_name))
        hadolint = Hadolint(submission.text(dockerfile_name), scratch=job.directory(".home"))
        job.tools.append(hadolint)
    notes += _build_context_note(build, workdir)
    normalised = sandbox_normalise(
        config, project=job.project, limits=limits, volume_root=workdir / VOLUMES_DIR
    )
    findings, hadolint_problem = hadolint.result()
    raw = [policed.raw_document, *(raw for raw, _ in policed.documents.values())]
    analysis = Analysis(
        submission=submission, dockerfile=dockerfile, dockerfile_name=dockerfile_name,
        final=final_image(dockerfile, build.get("target"), build_args), build_args=build_args,
        raw_services=raw_services(raw), config=config, app=app, db=db, workdir=workdir,
        findings=findings, hadolint_problem=hadolint_problem,
        notes=[*((NOTE_CONFIG, note) for note in notes), *normalised.notes],
    )  # fmt: skip
    return analysis, normalised


def _build_context_note(build: Mapping[str, Any], workdir: Path) -> list[str]:
    context = Path(str(build.get("context") or workdir)).resolve()
    if not build or context == workdir.resolve() or not context.is_relative_to(workdir.resolve()):
        return []
    return [
        BUILD_CONTEXT_NOTE.format(context="./" + context.relative_to(workdir.resolve()).as_posix())
    ]


def _observe(
    plan: SandboxPlan,
    limits: SandboxLimits,
    progress: ProgressCallback,
    engine: EngineAddress | None,
) -> RuntimeObservations:
    if not plan.app_service:
        return RuntimeObservations(build_ok=False, build_error=NO_APP_TO_RUN)
    from . import sandbox  # imported here so that static grading never imports docker

    return sandbox.observe(plan, limits, progress, engine)


def _reject(result: GradeResult, violations: list[PolicyViolation], started: float) -> None:
    result.status, result.policy = Status.REJECTED, violations
    result.timings.static_ms = _ms(started)


def _dockerfile_name(build: Mapping[str, Any], workdir: Path, submission: Submission) -> str:
    """The submitted Dockerfile, or another submitted file the compose build names."""
    named = build.get("dockerfile")
    if isinstance(named, str):
        context = Path(str(build.get("context") or workdir))
        full = (context / named).resolve()
        if full.is_relative_to(workdir.resolve()):
            relative = full.relative_to(workdir.resolve()).as_posix()
            if relative in submission.files:
                return relative
    return submission.dockerfile


def _app_image_tag(services: dict[str, dict[str, Any]], app: str | None, job: Job) -> str:
    """The app's resolved image:, or a job-unique one (set on the plan's service as well)."""
    if not app:
        return ""
    image = services[app].get("image")
    if not isinstance(image, str) or not image.strip():
        image = f"drydock-{job.id}-{app}:untagged"
        services[app]["image"] = image
    return image


def _mode(static_only: bool) -> str:
    return "static" if static_only else "full"


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
