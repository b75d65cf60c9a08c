"""The one reader of compose values: every spelling of a limit reads the same."""

from __future__ import annotations

import pytest

from exercises.grading.rules.values import (
    dotenv,
    parse_bytes,
    parse_duration,
    port_text,
    service_limits,
    truthy,
)

HALF_GIB = 512 * 2**20


@pytest.mark.parametrize("value", ["512M", "512m", "512MiB", "0.5g", str(HALF_GIB), HALF_GIB])
def test_bytes(value):
    assert parse_bytes(value) == HALF_GIB


@pytest.mark.parametrize(
    "service",
    [
        {"deploy": {"resources": {"limits": {"memory": "512M", "cpus": "0.5"}}}},
        {"mem_limit": "512m", "cpus": 0.5},
        {"mem_limit": HALF_GIB, "cpu_quota": 50000},
        {"mem_limit": "512m", "cpu_quota": 25000, "cpu_period": 50000},
    ],
    ids=["deploy", "legacy", "quota", "quota-period"],
)
def test_service_limits_read_every_spelling(service):
    limits = service_limits(service)
    assert (limits.memory, limits.cpus) == (HALF_GIB, 0.5)


def test_no_limits_read_as_zero():
    assert service_limits({"deploy": {"resources": {"reservations": {"memory": "1G"}}}}).memory == 0


@pytest.mark.parametrize(
    ("value", "expected"), [("1m30s", 90.0), ("500ms", 0.5), (30_000_000_000, 30.0), (None, 7.0)]
)
def test_durations(value, expected):
    assert parse_duration(value, 7.0) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("yes", True),
        ("on", True),
        (1, True),
        ("false", False),
        (0, False),
        (None, False),
    ],
)
def test_truthy(value, expected):
    assert truthy(value) is expected


def test_port_text_keeps_the_host_address():
    assert (
        port_text({"host_ip": "127.0.0.1", "published": "5432", "target": 5432})
        == "127.0.0.1:5432:5432"
    )
    assert port_text({"target": 5432}) == "5432"


def test_dotenv():
    assert dotenv("# c\nexport VERSION='1.2.3'\nTAG=\"x\"\nB=2 # note\n") == {
        "VERSION": "1.2.3",
        "TAG": "x",
        "B": "2",
    }
