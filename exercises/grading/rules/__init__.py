"""The seven checklist rules, their runtime confirmations, and the bonus extensions.

Each rule is written for its intent rather than for one spelling of it: environment as a
list or a mapping, short or long healthchecks, `mem_limit` or `deploy.resources`, an
ARG-parameterised FROM, a distroless final stage, `USER 1001`... The rules read two views
of the compose file: Docker Compose's normalised project (what will really run, variables
resolved) and the learner's raw YAML (whether a value was typed in literally or comes
from `${VAR}`, which interpolation erases).

One module per checklist item (`base_image`, `non_root`, `security`, `limits`, `health`,
`environment`, `tagging`), `confirmations` for full mode, `bonus` for the extensions;
they share one reader of values (`values`), one judge of image references (`references`)
and one vocabulary of secret and database names (`vocabulary`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analysis import HINTS, SUMMARIES_PASSED, Analysis
    from .bonus import extensions
    from .confirmations import runtime_confirm
    from .references import minimal_kind
    from .static import static_checks

# Loaded on first use, so that the lower layers (policy, the runtime) can import the shared
# readers `rules.values`, `rules.vocabulary` and `rules.references` without a cycle.
_EXPORTS = {
    "HINTS": "analysis",
    "SUMMARIES_PASSED": "analysis",
    "Analysis": "analysis",
    "runtime_confirm": "confirmations",
    "extensions": "bonus",
    "minimal_kind": "references",
    "static_checks": "static",
}
__all__ = [
    "HINTS",
    "SUMMARIES_PASSED",
    "Analysis",
    "extensions",
    "minimal_kind",
    "runtime_confirm",
    "static_checks",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
