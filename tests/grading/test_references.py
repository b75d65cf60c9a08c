"""Image references: Docker's grammar, and which images a learner's files may name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exercises.grading.references import (
    ReferenceInvalid,
    base_image_problem,
    own_image_problem,
    reference_allowed,
    reference_key,
    reference_parse,
)

W = "service x's image"


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("node", "docker.io", "library/node", None, None),
        ("node:18-alpine", "docker.io", "library/node", "18-alpine", None),
        ("library/node:18", "docker.io", "library/node", "18", None),
        ("docker.io/library/postgres:16", "docker.io", "library/postgres", "16", None),
        ("index.docker.io/redis", "docker.io", "library/redis", None, None),
        ("team/app:1.2.3-b42", "docker.io", "team/app", "1.2.3-b42", None),
        ("a__b/c-d.e:x_Y.1", "docker.io", "a__b/c-d.e", "x_Y.1", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/team/app:1.2", "localhost:5000", "team/app", "1.2", None),
        ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, None),
        ("[::1]:5000/x:1", "[::1]:5000", "x", "1", None),
        ("Registry.Example.COM/app", "Registry.Example.COM", "app", None, None),
        ("Docker.io/library/node", "Docker.io", "library/node", None, None),
        ("0x7f000001/x", "docker.io", "0x7f000001/x", None, None),  # not a host: no . or :
        ("node@sha256:" + "a" * 64, "docker.io", "library/node", None, "sha256:" + "a" * 64),
    ],
)
def test_references_parse_like_docker(text, domain, path, tag, digest):
    ref = reference_parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("MyApp:1.0", "upper"),
        ("myapp/Api:1", "upper"),
        ("MyHost/app:1", "upper"),  # Docker 20.10: no . or :, so not a host
        ("Localhost/app", "upper"),
        ("my app:1", "space"),
        ("app:1 ", "space"),
        ("app:", "tag"),
        ("app:.1", "tag"),
        ("app:-1", "tag"),
        ("app:" + "x" * 129, "tag"),
        ("app:é", "tag"),
        ("a/../b", "path"),
        ("a//b", "path"),
        ("-app", "path"),
        ("app-", "path"),
        ("a...b", "path"),
        ("app@sha256:abc", "digest"),
        ("app@", "digest"),
        ("bad_host:5000/x", "host"),
        ("host:port/x", "host"),
        ("x" * 300, "long"),
    ],
)
def test_malformed_references_are_refused_with_the_reason(text, why):
    with pytest.raises(ReferenceInvalid) as raised:
        reference_parse(text)
    assert raised.value.why == why
    problem = own_image_problem(text, where=W)
    assert problem and problem.startswith(W)


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1:5000/x",
        "127.0.0.1/x:1",
        "localhost/x",
        "localhost:5000/x",
        "[::1]/x",
        "[::1]:5000/x",
        "[fe80::1%25eth0]/x",
        "ghcr.io/acme/app:1",
        "quay.io/x/y:1",
        "host:5000/x",
        "registry-1.docker.io/library/node:18",
        "Docker.io/library/node:18",  # not Docker Hub to the engine: the case is kept
        "my-registry.internal/node:18",
        "Localhost/x",
        "HOST/x",
        "metadata.google.internal/x:1",
        "host.docker.internal:5000/x",
    ],
)
def test_base_images_from_any_registry_host_are_refused(text):
    problem = base_image_problem(text, where=W)
    assert problem is not None and problem.startswith(W), problem


@pytest.mark.parametrize(
    "text",
    [
        "drydock/job-abc123:app",
        "drydock-abc123-app:untagged",
        "drydock/baseline-starter:0123456789abcdef",
        "drydock-standin-rootfs",
        "library/drydock-x:1",
        "docker.io/drydock/job-x:1",
        "drydock:1",
        "drydock_x:1",
    ],
)
def test_drydock_namespace_is_reserved_for_both_roles(text):
    assert "reserved" in (base_image_problem(text, where=W) or "")
    assert "reserved" in (own_image_problem(text, where=W) or "")


@pytest.mark.parametrize(
    "text",
    ["sha256:" + "a" * 64, "sha256:abc123", "a" * 64, "3f2a9c", "deadbeef", "SHA256:" + "a" * 64],
)
def test_image_ids_are_refused(text):
    assert base_image_problem(text, where=W) is not None
    assert own_image_problem(text, where=W) is not None


@pytest.mark.parametrize(
    "text",
    [
        "node:18-alpine",
        "postgres:14-alpine",
        "docker.io/library/postgres:16-alpine",
        "node",
        "redis:7-alpine@sha256:" + "b" * 64,
        "bitnami/postgresql:16",
        "gcr.io/distroless/nodejs18-debian12:nonroot",  # named by the exercise text
        "cgr.dev/chainguard/node:20",
    ],
)
def test_well_formed_hub_names_are_accepted_statically(text):
    assert base_image_problem(text, where=W) is None


@pytest.mark.parametrize(
    "text",
    ["registry.drydock.test/myapp:1.4.2-87", "myapp:1.2.3", "gcr.io/my-project/api:1.2.3-b42",
     "localhost:5000/team/app:2", "REGISTRY.example.com/app:1"],
)  # fmt: skip
def test_the_apps_own_tag_may_name_any_registry(text):
    assert own_image_problem(text, where=W) is None


def test_the_apps_own_tag_is_a_tag_not_a_digest():
    assert "not a digest" in own_image_problem("app@sha256:" + "c" * 64, where=W)


STANDINS = ["node:18-alpine", "postgres:14-alpine", "busybox:latest"]


@pytest.mark.parametrize(
    ("text", "own", "allowed"),
    [
        ("node:18-alpine", (), True),
        ("docker.io/library/node:18-alpine", (), True),
        ("library/postgres:14-alpine", (), True),
        ("busybox", (), True),  # busybox:latest
        ("node:18", (), False),
        ("node:18-alpine@sha256:" + "a" * 64, (), False),
        ("myapp:1.0", (), False),  # another job's app tag, present on the engine
        ("myapp:1.0", ("myapp:1.0",), True),  # this job's own app image
        ("registry.drydock.test/myapp:1", ("registry.drydock.test/myapp:1",), True),
        ("127.0.0.1:5000/node:18-alpine", (), False),
        ("sha256:" + "d" * 64, ("sha256:" + "d" * 64,), False),
        ("gcr.io/distroless/nodejs18-debian12:nonroot", (), False),
        ("drydock/job-abc:app", (), False),
    ],
)
def test_reference_allowed_on_the_engine(text, own, allowed):
    problem = reference_allowed(text, standins=STANDINS, own=own, where="Dockerfile line 1: FROM")
    assert (problem is None) == allowed, problem
    if problem:
        assert problem.startswith("Dockerfile line 1: FROM")


def test_reference_keys_normalise_docker_hub_and_the_default_tag():
    assert reference_key("node") == reference_key("docker.io/library/node:latest")
    assert reference_key("Node") is None


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", _LABEL, _LABEL),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.just("localhost"),
)


@settings(max_examples=300, deadline=None)
@given(
    host=_HOSTS,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    path=st.lists(_LABEL, min_size=1, max_size=3),
    tag=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
)
def test_no_registry_host_passes_as_a_base_image(host, port, path, tag):
    if host in ("gcr.io", "cgr.dev", "docker.io", "index.docker.io"):
        return
    text = host + (f":{port}" if port is not None else "") + "/" + "/".join(path)
    text += f":{tag}" if tag else ""
    assert base_image_problem(text, where=W) is not None, text
    assert own_image_problem(text, where=W) is None or "reserved" in own_image_problem(
        text, where=W
    )
    assert reference_allowed(text, standins=[text], where=W) is not None


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_gets_an_answer_and_never_a_crash(text):
    for judge in (base_image_problem, own_image_problem):
        result = judge(text, where=W)
        assert result is None or result.startswith(W)
    reference_allowed(text, standins=STANDINS, own=[text], where=W)
