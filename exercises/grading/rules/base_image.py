"""Check 1, minimal-base-image: the final stage is built on a minimal image."""

from __future__ import annotations

from ..dockerfile import Stage
from .analysis import Analysis, Verdict
from .references import minimal_kind

NOT_MINIMAL = "The final stage is built FROM {image}, a full image (not alpine, -slim, distroless or scratch)."
UNRESOLVED = "The final base image {image!r} depends on ARG {names}, which has no default."
UNREADABLE = "The final base image {image!r} cannot be resolved."


def minimal_base_image(a: Analysis) -> Verdict:
    v = Verdict()
    stage, base = a.final.stage, a.final.base
    v.note(f"Dockerfile line {stage.line}: final stage{alias(stage)} FROM {stage.base}")
    for parent in base.chain[1:]:
        v.note(f"Dockerfile line {parent.line}: which builds FROM {parent.base}")
    if base.unresolved:
        names = ", ".join(sorted(base.unresolved))
        v.fail(UNRESOLVED.format(image=base.text or stage.base, names=names))
    elif base.ref is None:
        v.fail(UNREADABLE.format(image=stage.base))
    else:
        kind = minimal_kind(base.ref)
        if kind:
            v.ok(f"{base.text} is {kind}")
        else:
            v.fail(NOT_MINIMAL.format(image=base.text))
    return v


def alias(stage: Stage) -> str:
    return f" ({stage.alias})" if stage.alias else ""
