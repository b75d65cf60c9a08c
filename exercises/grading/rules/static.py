"""The seven static rules in checklist order, with hadolint findings and sandbox notes
attached to the check they concern."""

from __future__ import annotations

from collections.abc import Callable

from ..types import CHECK_IDS, CheckResult
from .analysis import Analysis, Verdict
from .base_image import minimal_base_image
from .environment import environment_config
from .health import health_checks
from .healthcheck import app_healthcheck
from .limits import resource_limits
from .non_root import non_root_user
from .security import security_practices
from .tagging import tagging_strategy

RULES: dict[str, Callable[[Analysis], Verdict]] = {
    "minimal-base-image": minimal_base_image,
    "non-root-user": non_root_user,
    "security-practices": security_practices,
    "resource-limits": resource_limits,
    "health-checks": health_checks,
    "environment-config": environment_config,
    "tagging-strategy": tagging_strategy,
}
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


def static_checks(analysis: Analysis) -> list[CheckResult]:
    """The seven rules in checklist order, with hadolint findings and sandbox notes attached."""
    extra = _hadolint_evidence(analysis)
    for check_id, note in analysis.notes:
        extra.setdefault(check_id, []).append(note)
    results = []
    for check_id in CHECK_IDS:
        verdict = RULES[check_id](analysis)
        verdict.evidence += extra.get(check_id, [])
        results.append(verdict.result(check_id))
    return results


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
