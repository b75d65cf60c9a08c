"""Confinement the learner cannot switch off: no-new-privileges is forced and NET_RAW dropped,
in the service configuration the runtime applies as it is."""

from __future__ import annotations

import pytest

from exercises.grading import grader
from exercises.grading.capabilities import CAPABILITIES, DEFAULT_CAPABILITIES
from exercises.grading.grader import grade_directory
from exercises.grading.normalise import sandbox_normalise
from exercises.grading.types import RuntimeObservations, SandboxLimits

from .support import replaced

DC = "docker-compose.yml"


def normalised_service(service: dict, tmp_path):
    normalised = sandbox_normalise(
        {"services": {"app": service}},
        project="drydock-x",
        limits=SandboxLimits(),
        volume_root=tmp_path,
    )
    return normalised.services["app"], [text for _, text in normalised.notes]


NNP_OFF = [
    "no-new-privileges:false",
    "no-new-privileges=false",
    "no-new-privileges: false",
    "no-new-privileges = false",
    "NO-NEW-PRIVILEGES:false",
    "no-new-privileges:0",
    "no-new-privileges=no",
    " no-new-privileges:False ",
]


@pytest.mark.parametrize("option", NNP_OFF)
def test_no_new_privileges_cannot_be_switched_off(option, tmp_path):
    service, notes = normalised_service({"image": "a:1", "security_opt": [option]}, tmp_path)
    assert service["security_opt"] == ["no-new-privileges"]
    assert f"sandbox: service app keeps no-new-privileges on in the sandbox (security_opt {option} is ignored)" in notes  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [None, [], ["no-new-privileges"], ["no-new-privileges:true"], ["no-new-privileges=true"]],
)
def test_no_new_privileges_is_always_on_without_a_note_when_asked_for(options, tmp_path):
    service, notes = normalised_service({"image": "a:1", "security_opt": options}, tmp_path)
    assert service["security_opt"] == ["no-new-privileges"]
    assert notes == []


@pytest.mark.parametrize(
    "option", ["seccomp=./profile.json", "apparmor=docker-default", "label=type:x", "Whatever"]
)
def test_other_security_options_are_ignored_with_a_note(option, tmp_path):
    service, notes = normalised_service({"image": "a:1", "security_opt": [option]}, tmp_path)
    assert service["security_opt"] == ["no-new-privileges"]
    assert notes == [f"sandbox: service app's security_opt {option} is ignored in the sandbox"]


@pytest.mark.parametrize(
    ("cap_add", "cap_drop", "add_after", "drop_after"),
    [
        (None, None, None, ["NET_RAW"]),
        (None, ["ALL"], None, ["ALL"]),
        (None, ["all"], None, ["ALL"]),
        (None, ["CAP_NET_RAW"], None, ["NET_RAW"]),
        (None, ["chown", "setuid"], None, ["CHOWN", "SETUID", "NET_RAW"]),
        (["NET_BIND_SERVICE"], ["ALL"], ["NET_BIND_SERVICE"], ["ALL"]),
        (["NET_RAW"], ["ALL"], None, ["ALL"]),
        (["cap_net_raw"], None, None, ["NET_RAW"]),
        (["ALL"], ["NET_RAW"], None, ["NET_RAW"]),
        (["all", "NET_BIND_SERVICE"], None, ["NET_BIND_SERVICE"], ["NET_RAW"]),
    ],
)
def test_net_raw_stays_dropped(cap_add, cap_drop, add_after, drop_after, tmp_path):
    service, notes = normalised_service(
        {"image": "a:1", "cap_add": cap_add, "cap_drop": cap_drop}, tmp_path
    )
    assert service.get("cap_add") == add_after
    assert service["cap_drop"] == drop_after
    for cap in cap_add or []:
        if cap.upper().removeprefix("CAP_") == "NET_RAW":
            assert f"sandbox: service app runs without NET_RAW in the sandbox (cap_add {cap} does not bring it back)" in notes  # fmt: skip
        elif cap.upper() == "ALL":
            assert f"sandbox: service app runs with Docker's default capabilities only, without NET_RAW (cap_add {cap} is ignored)" in notes  # fmt: skip


@pytest.mark.parametrize("cap", sorted(CAPABILITIES - DEFAULT_CAPABILITIES - {"ALL"}))
@pytest.mark.parametrize("spelling", ["{cap}", "CAP_{cap}", "cap_{lower}", " {lower} "])
def test_no_capability_beyond_dockers_defaults_is_ever_granted(cap, spelling, tmp_path):
    value = spelling.format(cap=cap, lower=cap.lower())
    service, notes = normalised_service(
        {"image": "a:1", "cap_drop": ["ALL"], "cap_add": ["CHOWN", value, "SETUID"]}, tmp_path
    )
    assert service["cap_add"] == ["CHOWN", "SETUID"]
    assert notes == [
        f"sandbox: service app runs without {cap}: the sandbox grants only Docker's default "
        f"capabilities (cap_add {value} is ignored)"
    ]


def test_dockers_default_capabilities_can_be_added_back_after_dropping_all(tmp_path):
    granted = sorted(DEFAULT_CAPABILITIES - {"NET_RAW"})
    service, notes = normalised_service(
        {"image": "a:1", "cap_drop": ["ALL"], "cap_add": granted}, tmp_path
    )
    assert service["cap_add"] == granted and service["cap_drop"] == ["ALL"]
    assert notes == []


def test_unknown_capabilities_are_dropped_rather_than_failing_the_start(tmp_path):
    service, notes = normalised_service({"image": "a:1", "cap_drop": ["FOO", "MKNOD"]}, tmp_path)
    assert service["cap_drop"] == ["MKNOD", "NET_RAW"]
    assert notes == ["sandbox: service app's cap_drop FOO is not a capability and is ignored"]


def test_the_plan_the_runtime_gets_carries_the_forced_confinement(submit, reference, monkeypatch):
    plans = []

    def record(plan, *args):
        plans.append(plan)
        return RuntimeObservations(build_error="not run in this test")

    monkeypatch.setattr(grader, "_observe", record)
    extra = "    security_opt: ['no-new-privileges=false']\n    cap_drop: [CHOWN]\n"
    files = replaced(reference, DC, "  app:\n", "  app:\n" + extra)

    result = grade_directory(submit(files))

    (plan,) = plans
    for name, service in plan.services.items():
        assert service["security_opt"] == ["no-new-privileges"], name
        assert "NET_RAW" in service["cap_drop"] and "cap_add" not in service, name
    assert plan.services["app"]["cap_drop"] == ["CHOWN", "NET_RAW"]
    evidence = [e for c in result.checks for e in c.evidence]
    assert any("keeps no-new-privileges on" in e for e in evidence)
