"""Substitute stand-ins for official image tags the sandbox does not have.

Real Dockerfiles name many tags: `node:14.17.3-alpine3.14`, `node:16-bullseye`, `postgres:16.4`.
Nothing can be pulled, and no set of stand-ins has every patch release, so rather than failing
a build over a tag, the sandbox grades with the closest stand-in of the same image and flavour
(the nearest supported major, alpine / slim / full) and says so in a `sandbox:` note. The
static rules still judge the tag the learner wrote. Only official images the stand-ins imitate
are substituted, and the few vendor images in `VENDOR` whose nature a stand-in shares closely
enough to run the stack (`redislabs/redismod` is Redis with modules: the modules are missing,
and the note says so), or that it becomes with a few packages of the offline mirror
(`VENDOR_BUILT`: `louislam/uptime-kuma:base-debian` is node 20 on bookworm-slim, started
through dumb-init; that image is built once on the grading engine, with no network). Any other
vendor image stays unavailable: a vendor base that holds the vendor's own application
(`outlinewiki/outline-base`) cannot be imitated truthfully.

A digest-pinned official image (`node:20@sha256:…`) names its tag too: it is graded with the
stand-in of that tag, and the note says the digest could not be verified offline. The engine
only resolves a digest it pulled, so the build is given the Dockerfile with that `@sha256:…`
dropped from its FROM lines (`digests_dropped`); the static rules still see the learner's file.

The substitute is made available under the requested name by tagging the stand-in image with
it on the grading engine: every job asking for that name gets the same stand-in, the image
keeps its stand-in labels (so `org.drydock.standin.for` tells which one it really is), and no
job's own image is ever given a shared name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

import docker

from ..references import ReferenceInvalid, reference_key, reference_parse
from ..types import ProjectFile
from .client import LABEL_STANDIN, engine_call, standin_image

STANDIN_FOR = LABEL_STANDIN + ".for"
NODE_MAJORS = (18, 20, 22, 24, 26)
POSTGRES_MAJORS = (14, 15, 16, 17, 18)
SUBSTITUTED = "sandbox: {ref} is not available offline: graded with the stand-in {standin}"
DIGEST_UNVERIFIED = (
    "sandbox: {ref} is pinned by digest, which cannot be verified offline: graded with the "
    "stand-in {standin} (the digest is not checked)"
)
VENDOR_SUBSTITUTED = (
    "sandbox: {ref} is a vendor image not available offline: graded with the stand-in "
    "{standin} ({what})"
)
# vendor repository (on Docker Hub) -> (stand-in, what differs), any tag
VENDOR = {
    "redislabs/redismod": (
        "redis:7-alpine",
        "Redis without the modules redismod loads (RedisJSON, RediSearch, RedisGraph…)",
    ),
}
# vendor bases a stand-in alone cannot imitate because they are started through a tool it lacks:
# made once on the grading engine, FROM the stand-in, with packages of the offline mirror
# (the build has no network), and labelled as the stand-in for that vendor tag
VENDOR_BUILT = {
    "louislam/uptime-kuma": {
        "tags": ("base-debian", "base2-slim"),
        "from": "node:20-bookworm-slim",
        "packages": ("dumb-init", "curl", "iputils-ping", "python3"),
        "what": (
            "node 20 on Debian bookworm-slim with dumb-init, curl, ping and python3 from the "
            "offline mirror; without apprise, sqlite3 or chromium"
        ),
    },
}
VENDOR_BUILD_MEMORY = 512 * 2**20
# a digest after an image name on a FROM line (the name keeps its tag)
_FROM_DIGEST = re.compile(
    r"^([ \t]*FROM[ \t]+(?:--\S+[ \t]+)*[^\s@]+:[^\s@/]+)@sha256:[0-9a-f]{64}(?=\s|$)",
    re.IGNORECASE | re.MULTILINE,
)
# Tags that exist upstream (a version, then a known variant): anything else would fail on the
# learner's own machine too, so it is not substituted.
_DEBIAN = r"(?:bookworm|bullseye|buster|stretch|trixie)"
_VARIANT = rf"(?:-(?:alpine(?:\d+(?:\.\d+)*)?|slim|{_DEBIAN}(?:-slim)?))?"
_TAGS = {
    "node": re.compile(
        rf"(?:\d+(?:\.\d+){{0,2}}|lts|current|latest|{_DEBIAN}|alpine|slim){_VARIANT}"
    ),
    "postgres": re.compile(rf"(?:\d+(?:\.\d+)?|latest|alpine){_VARIANT}"),
    "redis": re.compile(rf"(?:\d+(?:\.\d+){{0,2}}|latest|alpine){_VARIANT}"),
    "nginx": re.compile(rf"(?:\d+(?:\.\d+){{0,2}}|latest|alpine|stable|mainline){_VARIANT}"),
    "alpine": re.compile(r"\d+(?:\.\d+){0,2}|latest|edge"),
    "busybox": re.compile(r"\d+(?:\.\d+){0,2}(?:-(?:glibc|musl|uclibc))?|latest|glibc|musl"),
    "python": re.compile(rf"3(?:\.\d+){{0,2}}{_VARIANT}"),
}


def _nearest(major: int, majors: tuple[int, ...]) -> int:
    """The smallest supported major at or above `major` (the oldest still supported below)."""
    return next((m for m in majors if m >= major), majors[-1])


def _flavour(tag: str) -> str:
    if "alpine" in tag:
        return "alpine"
    if "slim" in tag:
        return "slim"
    return ""


def candidate(ref: str) -> str | None:
    """The stand-in tag that stands in for `ref`, or None when none should."""
    try:
        parsed = reference_parse(ref)
    except ReferenceInvalid:
        return None
    if parsed.on_hub and parsed.path in VENDOR:
        return VENDOR[parsed.path][0]
    if parsed.on_hub and parsed.path in VENDOR_BUILT:
        spec = VENDOR_BUILT[parsed.path]
        return str(spec["from"]) if parsed.tag in spec["tags"] and not parsed.digest else None
    if not parsed.on_hub or not parsed.path.startswith("library/") or not parsed.tag:
        return None
    repo, tag = parsed.path.removeprefix("library/"), parsed.tag
    if repo not in _TAGS or not _TAGS[repo].fullmatch(tag):
        return None
    major_text = re.match(r"\d+", tag)
    flavour = _flavour(tag)
    if repo == "node":
        major = _nearest(int(major_text[0]), NODE_MAJORS) if major_text else 24
        return f"node:{major}-{flavour}" if flavour else f"node:{major}"
    if repo == "postgres":
        major = _nearest(int(major_text[0]), POSTGRES_MAJORS) if major_text else 17
        return f"postgres:{major}-alpine" if flavour == "alpine" else f"postgres:{major}"
    return {
        "redis": "redis:7-alpine",
        "nginx": "nginx:alpine",
        "alpine": "alpine:latest",
        "busybox": "busybox:latest",
        "python": "python:3.11-slim",
    }.get(repo)


def substitute(client: docker.DockerClient, ref: str) -> tuple[dict[str, Any], str] | None:
    """(attrs of the stand-in now available as `ref`, the note to show), or None. For a
    digest-pinned reference, the stand-in is made available under its name and tag."""
    if "@" in ref:
        return _substitute_digest(client, ref)
    standin = candidate(ref)
    attrs = standin_image(client, standin) if standin else None
    if attrs is None or standin is None:
        return None
    parsed = reference_parse(ref)
    if parsed.path in VENDOR_BUILT:
        built = _vendor_build(client, ref, standin, VENDOR_BUILT[parsed.path])
        return (built, _note(ref, standin)) if built else None
    name = ref.removesuffix(f":{parsed.tag}") if parsed.tag else ref
    with engine_call(f"making {standin} available as {ref}"):
        client.api.tag(attrs["Id"], name, parsed.tag or "latest")
    return attrs, _note(ref, standin)


def _vendor_build(
    client: docker.DockerClient, ref: str, standin: str, spec: dict[str, Any]
) -> dict[str, Any] | None:
    """The vendor stand-in `ref`, built FROM `standin` with no network; None if it fails."""
    packages = " ".join(spec["packages"])
    dockerfile = (
        f"FROM {standin}\n"
        f"RUN apt-get update && apt-get install -y --no-install-recommends {packages}"
        " && rm -rf /var/lib/apt/lists/*\n"
        f'LABEL {STANDIN_FOR}="{ref}"\n'
    )
    try:
        with engine_call(f"making the stand-in for {ref}"):
            image, _ = client.images.build(
                fileobj=io.BytesIO(dockerfile.encode()), tag=ref, network_mode="none",
                rm=True, forcerm=True, container_limits={"memory": VENDOR_BUILD_MEMORY},
            )  # fmt: skip
    except (docker.errors.BuildError, docker.errors.APIError):
        return None
    return standin_image(client, image.id)


def _note(ref: str, standin: str) -> str:
    parsed = reference_parse(ref)
    if parsed.on_hub and parsed.path in VENDOR:
        return VENDOR_SUBSTITUTED.format(ref=ref, standin=standin, what=VENDOR[parsed.path][1])
    if parsed.on_hub and parsed.path in VENDOR_BUILT:
        what = VENDOR_BUILT[parsed.path]["what"]
        return VENDOR_SUBSTITUTED.format(ref=ref, standin=standin, what=what)
    return SUBSTITUTED.format(ref=ref, standin=standin)


def _substitute_digest(client: docker.DockerClient, ref: str) -> tuple[dict[str, Any], str] | None:
    plain = ref.partition("@")[0]
    if candidate(ref) is None:  # only an official image with a tag the stand-ins imitate
        return None
    attrs = standin_image(client, plain)
    if attrs is None and (found := substitute(client, plain)):
        attrs = found[0]
    if attrs is None:
        return None
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return attrs, DIGEST_UNVERIFIED.format(ref=ref, standin=labels.get(STANDIN_FOR) or plain)


def digests_dropped(files: Mapping[str, ProjectFile], dockerfile: str) -> dict[str, ProjectFile]:
    """The build context with `@sha256:…` dropped from the Dockerfile's FROM lines that name
    a tag (the engine cannot resolve a digest it never pulled); the rest unchanged."""
    entry = files.get(dockerfile)
    if entry is None:
        return dict(files)
    text = entry.content.decode("utf-8", "replace")
    replaced = _FROM_DIGEST.sub(r"\1", text)
    if replaced == text:
        return dict(files)
    return {**files, dockerfile: ProjectFile(replaced.encode(), entry.mode)}


def substitute_note(attrs: dict[str, Any], ref: str) -> str | None:
    """The note for a stand-in that answers to a name it does not stand for (an earlier
    substitution), else None."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    real = labels.get(STANDIN_FOR)
    vendor = _vendor_built(ref)
    if real and _same(real, ref) and vendor:
        return _note(ref, str(vendor["from"]))  # a vendor stand-in made here earlier
    if not real or _same(real, ref):
        return None
    return _note(ref, real)


def _vendor_built(ref: str) -> dict[str, Any] | None:
    try:
        parsed = reference_parse(ref)
    except ReferenceInvalid:
        return None
    return VENDOR_BUILT.get(parsed.path) if parsed.on_hub else None


def _same(a: str, b: str) -> bool:
    return reference_key(a) == reference_key(b) is not None
