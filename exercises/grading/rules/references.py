"""What an image reference says: is it pinned to a version, is it a minimal image, does
it run as a non-root user by default.

The reference itself is parsed by `compose.image_ref` (one parser for the whole grader);
this module holds the judgements, written for intent: a tag pins an image when it names
a version (`18`, `22.11.0-alpine`, `7.4-alpine`, `14`), not when it names a channel or a
flavour (`alpine`, `lts`, `slim`, `current`, `bookworm`, `stable`, `latest`, none).
"""

from __future__ import annotations

import re

from ..compose import ImageRef, image_ref

__all__ = [
    "ImageRef",
    "image_ref",
    "floating_reason",
    "is_pinned",
    "minimal_kind",
    "nonroot_default",
]

# A tag that starts with a version number: 18, 22.11.0-alpine, v2, 14-alpine, 3.19.
_VERSION_TAG = re.compile(r"^v?\d")
# Distribution images whose codename is their version (debian:bookworm is Debian 12).
_CODENAME_VERSIONS = {
    "debian": {"buster", "bullseye", "bookworm", "trixie"},
    "ubuntu": {"focal", "jammy", "noble", "oracular", "plucky"},
}
# Images that carry their version in their name and have no version tags at all
# (gcr.io/distroless/nodejs22-debian12:nonroot): the name pins the major version.
_VERSION_IN_NAME = re.compile(r"[a-z]\d+(-[a-z]+\d+)?$")
_NAME_ONLY_TAGS = frozenset({"latest", "nonroot", "debug", "debug-nonroot"})
_SLIM = re.compile(r"(^|[-._])slim($|[-._])")


def floating_reason(ref: ImageRef) -> str | None:
    """Why a reference is not pinned to a version (None when it is pinned)."""
    if ref.digest:
        return None
    tag = (ref.tag or "").lower()
    if _VERSION_TAG.match(tag):
        return None
    if tag in _CODENAME_VERSIONS.get(ref.name, set()) or tag.split("-")[
        0
    ] in _CODENAME_VERSIONS.get(ref.name, set()):
        return None
    if (tag in _NAME_ONLY_TAGS or not tag) and _VERSION_IN_NAME.search(ref.name):
        return None
    if not tag:
        return "has no tag, which means latest"
    if tag == "latest":
        return "is tagged latest"
    return f"tag {ref.tag!r} names no version, so the image changes under it"


def is_pinned(ref: ImageRef) -> bool:
    return floating_reason(ref) is None


def minimal_kind(ref: ImageRef) -> str | None:
    """What makes an image minimal (from its name and variant), or None for a full one."""
    tag = (ref.tag or "").lower()
    repository = ref.repository.lower()
    if ref.repository == "scratch" and not ref.registry:
        return "scratch (an empty image)"
    if "distroless" in repository:  # gcr.io/distroless/... and its mirrors
        return "a distroless image"
    if ref.registry == "cgr.dev" or "chainguard/" in repository or ref.name == "wolfi-base":
        return "a Chainguard image"
    if ref.name == "busybox":
        return "busybox"
    if "alpine" in ref.name or "alpine" in tag:  # alpine, node:22-alpine, mhart/alpine-node
        return "an Alpine image"
    if _SLIM.search(tag):
        return "a -slim image"
    if re.search(r"-(minimal|micro)$", ref.name) or re.search(r"(^|-)(minimal|micro)$", tag):
        return "a minimal image"
    return None


def nonroot_default(ref: ImageRef | None) -> str | None:
    """The user an image runs as by default when it is not root, from its name."""
    if ref is None:
        return None
    tag = (ref.tag or "").lower()
    if "distroless" in ref.repository and "nonroot" in tag:
        return "nonroot (65532)"
    if ref.registry == "cgr.dev" and "-dev" not in tag and tag != "dev":
        return "nonroot (65532)"
    return None


def reference_of(text: str) -> ImageRef | None:
    """A reference from free text, or None for an empty one."""
    return image_ref(text) if text and text.strip() else None
