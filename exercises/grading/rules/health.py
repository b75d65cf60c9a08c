"""Check 5, health-checks: the app and the database have health checks that can fail,
and the app waits for a healthy database."""

from __future__ import annotations

from .analysis import NO_APP, NO_DB, Analysis, Verdict
from .healthcheck import app_healthcheck, cannot_fail, compose_test, shell_text

NO_HEALTHCHECK = "{who} has no healthcheck."
DISABLED = "{who}'s healthcheck is disabled ({source})."
CANNOT_FAIL = "{who}'s healthcheck cannot fail ({why}): {command!r}."


def health_checks(a: Analysis) -> Verdict:
    v = Verdict()
    if a.app is None:
        v.fail(NO_APP)
    else:
        source, test = app_healthcheck(a)
        judge_healthcheck(v, f"The app service {a.app}", source, test)
    if a.db is None:
        v.fail(NO_DB)
        return v
    db_check = a.service(a.db).get("healthcheck")
    judge_healthcheck(v, f"The database service {a.db}", "compose", compose_test(db_check))
    condition = ((a.service(a.app).get("depends_on") or {}).get(a.db) or {}).get("condition")
    if condition == "service_healthy":
        v.ok(f"{a.app} depends on {a.db} with condition: service_healthy")
    elif a.app is not None:
        shown = f"condition: {condition}" if condition else "no depends_on"
        v.fail(
            f"The app does not wait for a healthy database ({shown}); use condition: service_healthy."
        )
    return v


def judge_healthcheck(v: Verdict, who: str, source: str, test: list[str] | None) -> None:
    if not test:
        v.fail(NO_HEALTHCHECK.format(who=who))
    elif test[0].upper() == "NONE":
        v.fail(DISABLED.format(who=who, source=source))
    else:
        command = shell_text(test)
        why = cannot_fail(command)
        if why:
            v.fail(CANNOT_FAIL.format(who=who, command=command, why=why))
        else:
            v.ok(f"{who.removeprefix('The ')} healthcheck ({source}): {command}")
