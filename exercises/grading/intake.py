"""The learner's files read and judged before Docker Compose has seen anything: the Dockerfile
parsed, the compose file loaded bomb-safely with the grader's inputs, the files it includes or
extends, and the raw services the static rules ask literal-versus-variable questions of."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .compose import compose_document, env_dict, interpolate_tree
from .dockerfile import Dockerfile, dockerfile_parse
from .files import Submission
from .policy import SandboxInputs, raw_violations, referenced_files, sandbox_inputs
from .types import PolicyViolation

MAX_REFERENCED_FILES = 16


@dataclass
class Policed:
    """The learner's files read and judged, before Docker Compose has seen anything."""

    submission: Submission
    dockerfile: Dockerfile
    raw_document: dict[str, Any]
    inputs: SandboxInputs
    documents: dict[str, tuple[dict[str, Any], dict[str, Any]]]  # included/extended files
    violations: list[PolicyViolation]


def police(submission: Submission) -> Policed:
    dockerfile = dockerfile_parse(submission.text(submission.dockerfile))
    compose_text = submission.text(submission.compose)
    texts = {name: submission.text(name) for name in submission.files}
    raw_document = compose_document(compose_text, submission.compose)
    inputs = sandbox_inputs(raw_document, compose_text, texts=texts)
    documents = referenced_documents(inputs.document, submission, inputs.variables)
    violations = [*submission.violations, *raw_violations(inputs.document, base="")]
    for name, (_, document) in documents.items():
        violations += raw_violations(document, base=posixpath.dirname(name))
    return Policed(submission, dockerfile, raw_document, inputs, documents, violations)


def referenced_documents(
    document: Mapping[str, Any], submission: Submission, variables: Mapping[str, str]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Included and extended compose files inside the submission, loaded bomb-safely, as
    (raw, interpolated), so the policy judges them too (paths outside are its business)."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    pending = referenced_files(document, base="")
    while pending and len(found) < MAX_REFERENCED_FILES:
        name = pending.pop()
        if name in found or name == submission.compose or name not in submission.files:
            continue
        raw = compose_document(submission.text(name), name)
        found[name] = (raw, interpolate_tree(raw, variables))
        pending += referenced_files(found[name][1], base=posixpath.dirname(name))
    return found


def raw_services(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The learner's raw services (main file first), with `extends` environments merged in,
    so that literal-versus-variable questions can be asked of what the learner typed."""
    services: dict[str, dict[str, Any]] = {}
    for document in documents:
        for name, service in (document.get("services") or {}).items():
            if isinstance(service, dict):
                services.setdefault(str(name), service)
    merged: dict[str, dict[str, Any]] = {}
    for name, service in services.items():
        extends = service.get("extends")
        base_name = extends.get("service") if isinstance(extends, dict) else extends
        base = services.get(str(base_name)) if base_name and base_name != name else None
        if isinstance(base, dict):
            environment = {
                **env_dict(base.get("environment")),
                **env_dict(service.get("environment")),
            }
            service = {**base, **service, "environment": environment}
        merged[name] = service
    return merged
