"""Check 2, non-root-user: the app runs as a user other than root."""

from __future__ import annotations

from .analysis import Analysis, Verdict
from .references import nonroot_default


def non_root_user(a: Analysis) -> Verdict:
    v = Verdict()
    final, user = a.final, a.final.user
    default = nonroot_default(final.base.ref)
    if user is None:
        if default:
            v.ok(f"no USER, but {final.base.text} runs as {default} by default")
        else:
            v.fail("The final stage never sets USER, so the app runs as root.")
    elif not final.user_value or "$" in final.user_value:
        v.fail(
            f"Dockerfile line {user.line}: USER {user.args} cannot be resolved (a variable without a value)."
        )
    elif is_root(final.user_value):
        v.fail(f"Dockerfile line {user.line}: the last USER is {root_text(final.user_value)}.")
    else:
        v.ok(f"Dockerfile line {user.line}: USER {final.user_value}")
    compose_user = a.service(a.app).get("user")
    if compose_user is not None:
        if is_root(str(compose_user)):
            v.fail(f"The compose file runs service {a.app} as user {root_text(str(compose_user))}.")
        elif user is None and not default:
            v.note(
                f"compose sets user: {compose_user}, but the image itself still defaults to root"
            )
        else:
            v.ok(f"compose runs service {a.app} as user {compose_user}")
    return v


def is_root(value: str) -> bool:
    name = value.strip().split(":", 1)[0].strip()
    return name == "root" or (name.isdigit() and int(name) == 0)


def root_text(value: str) -> str:
    return value if value.split(":", 1)[0].strip() == "root" else f"{value} (root)"
