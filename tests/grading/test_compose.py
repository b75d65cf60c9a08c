"""Compose helpers: interpolation, variable discovery, image references, service roles."""

from __future__ import annotations

import pytest

from exercises.grading.compose import (
    env_dict,
    find_app_service,
    find_db_service,
    image_ref,
    interpolate,
    variables_used,
)


@pytest.mark.parametrize(
    ("text", "result", "missing"),
    [
        ("${A}", "1", set()),
        ("$A-$B", "1-", {"B"}),
        ("${B:-x}", "x", set()),
        ("${E:-x}", "x", set()),
        ("${E-x}", "", set()),
        ("${A:+set}${B:+set}", "set", set()),
        ("${B:-${A:-y}}", "1", set()),
        ("$$A ${C:?needed}", "$A ", {"C"}),
        ("cost $5", "cost $5", set()),
    ],
)
def test_interpolate_like_compose(text, result, missing):
    assert interpolate(text, {"A": "1", "E": ""}) == (result, missing)


def test_interpolate_without_dollar_escape_is_dockerfile_style():
    assert interpolate("$$A", {"A": "1"}, dollar_escape=False)[0] == "$1"


def test_variables_used():
    used = variables_used("image: ${REG}/app:${TAG:-1.0} $$NOT ${TAG} $PLAIN ${OPT:+x}")
    assert used == {"REG": False, "TAG": False, "PLAIN": False, "OPT": True}


def test_env_dict_forms():
    assert env_dict(["A=1", "B", "C=x=y"]) == {"A": "1", "B": None, "C": "x=y"}
    assert env_dict({"A": 1, "B": None, "C": True}) == {"A": "1", "B": None, "C": "true"}


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("node", "", "node", None, None),
        ("library/node:18-alpine", "", "node", "18-alpine", None),
        ("localhost:5000/team/app:1.2", "localhost:5000", "team/app", "1.2", None),
        (
            "gcr.io/distroless/nodejs18-debian12",
            "gcr.io",
            "distroless/nodejs18-debian12",
            None,
            None,
        ),
        ("postgres:14@sha256:abc", "", "postgres", "14", "sha256:abc"),  # lenient: not valid
        ("docker.io/library/postgres:16-alpine", "", "postgres", "16-alpine", None),
        ("index.docker.io/bitnami/redis:7", "", "bitnami/redis", "7", None),
        ("[::1]:5000/x:1", "[::1]:5000", "x", "1", None),
        ("Registry.Example.com/app:1", "registry.example.com", "app", "1", None),
    ],
)
def test_image_ref(text, registry, repository, tag, digest):
    ref = image_ref(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_database_and_app_roles_by_intent():
    services = {
        "backup": {"image": "prodrigestivill/postgres-backup-local:16", "depends_on": ["database"]},
        "exporter": {"image": "prometheuscommunity/postgres-exporter:v0.15.0"},
        "database": {"image": "docker.io/library/postgres:16-alpine"},
        "grafana": {"image": "grafana/grafana:10.4.2"},
        "api": {"image": "ghcr.io/acme/shop-api:1.2.3", "depends_on": {"database": {}}},
    }
    assert find_db_service(services) == "database"
    assert find_app_service(services, "database") == "api"


def test_built_service_is_the_app_even_beside_a_custom_image():
    services = {"worker": {"image": "acme/worker:1"}, "web": {"build": {"context": "."}}}
    assert find_app_service(services, None) == "web"


def test_no_database():
    assert find_db_service({"cache": {"image": "redis:7"}}) is None
