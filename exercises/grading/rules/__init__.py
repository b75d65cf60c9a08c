"""The seven checklist rules, their runtime confirmations, and the bonus extensions.

Each rule is written for its intent rather than for one spelling of it: environment as a
list or a mapping, short or long healthchecks, `mem_limit` or `deploy.resources`, an
ARG-parameterised FROM, a distroless final stage, `USER 1001`... The rules read two views
of the compose file: Docker Compose's normalised project (what will really run, variables
resolved) and the learner's raw YAML (whether a value was typed in literally or comes
from `${VAR}`, which interpolation erases).

One module per checklist item (`base_image`, `non_root`, `security`, `limits`, `health`,
`environment`, `tagging`), `confirmations` for full mode, `extensions` for the bonus items;
they share one reader of values (`values`), one judge of image references (`references`)
and one vocabulary of secret and database names (`vocabulary`).
"""

from __future__ import annotations

from .analysis import HINTS, SUMMARIES_PASSED, Analysis
from .confirmations import runtime_confirm
from .extensions import extensions
from .references import minimal_kind
from .static import static_checks

__all__ = [
    "HINTS",
    "SUMMARIES_PASSED",
    "Analysis",
    "extensions",
    "minimal_kind",
    "runtime_confirm",
    "static_checks",
]
