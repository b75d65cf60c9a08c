"""Image references: one parser, and the rules for which images a learner's files may name.

The grammar is Docker's own (distribution/reference, `reference.go` and `normalize.go`):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component [ "/" path-component ]*
    domain     := host [ ":" port ]    host: DNS labels, IPv4, or [IPv6]
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex{32,}

and so is the domain rule (`splitDockerDomain`, as vendored in Docker 20.10): the first
component is a registry host when it holds a `.` or a `:` or is `localhost` (so `MyHost/app`
is a path with capitals, invalid; later versions read it as a host, and refusing it is right
under both); `docker.io` and `index.docker.io` are Docker Hub, the default. The engine also resolves a string that is not a name by image
ID (`sha256:<hex>`, or a hex prefix of an ID when no tag of that name exists), which is how
one job could reach another job's image: such strings are refused here.

Two roles. A *base* image (compose `image:` of a service that is not the learner's app,
Dockerfile `FROM`, `COPY --from`, `RUN --mount=from=`) must be one of the sandbox's stand-in
images: statically that means a well-formed Docker Hub name outside Drydock's namespace; on
the engine, `reference_allowed` checks it against the stand-ins actually there. The app's
*own* `image:` is only the name its built image is tagged with, so any registry may appear
in it, but it must be a valid tag (a name the engine would refuse makes tagging fail).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io"})
# Registries the exercise text names as homes of minimal base images (distroless,
# Chainguard). Static grading accepts them so that the course's advice grades as written;
# they are never stand-ins, so a full grading refuses them before building.
COURSE_REGISTRIES = frozenset({"gcr.io", "cgr.dev"})
NAME_MAX = 255

# Names Drydock gives its own images: job images `drydock/job-<id>`, the untagged app
# `drydock-<id>-<service>`, baselines `drydock/baseline-*`, `drydock-standin-rootfs`.
_RESERVED = re.compile(r"^drydock($|[-_.])")

_ALNUM = r"[a-z0-9]+"
_COMPONENT = re.compile(rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[a-fA-F0-9:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_IMAGE_ID = re.compile(r"(?:sha256|sha384|sha512):[0-9a-fA-F]*|[0-9a-fA-F]{64}")
_HEX = re.compile(r"[0-9a-f]+")

R_MALFORMED = "{where} {ref!r} is not a valid image reference ({why})"
R_IMAGE_ID = (
    "{where} {ref!r} names an image by its ID; name images by repository and tag "
    "(for example node:18-alpine)"
)
R_REGISTRY = (
    "{where} {ref} comes from the registry {registry}; the sandbox pulls nothing, so base "
    "images must be the sandbox's Docker Hub images (for example node:18-alpine)"
)
R_RESERVED = (
    "{where} {ref} is in Drydock's reserved image namespace (drydock…); choose another name"
)
R_DIGEST_TAG = (
    "{where} {ref} is the name your built image is tagged with, so it needs a tag, not a digest"
)
R_NOT_STANDIN = (
    "{where} {ref} is not available in the sandbox; base images must be one of its stand-in "
    "images ({available})"
)

W_MALFORMED_WHY = {
    "empty": "it is empty",
    "space": "it contains white space",
    "upper": "repository names must be lower case",
    "tag": "the tag after ':' must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
    "digest": "the digest after '@' must look like sha256:<hex>",
    "path": "each part of the name must be lower-case letters and digits, separated by '.', '_', '__' or '-'",
    "host": "the registry host is not valid",
    "long": f"the name is longer than {NAME_MAX} characters",
}


class ReferenceInvalid(ValueError):
    """Not a reference Docker would accept; `.why` is a key of W_MALFORMED_WHY."""

    def __init__(self, why: str) -> None:
        super().__init__(W_MALFORMED_WHY[why])
        self.why = why


@dataclass(frozen=True)
class Reference:
    domain: str  # "docker.io" for Docker Hub (the default)
    path: str  # "library/node", "distroless/nodejs18-debian12"
    tag: str | None
    digest: str | None

    @property
    def on_hub(self) -> bool:
        return self.domain == HUB

    @property
    def familiar(self) -> str:
        """The name as `docker images` shows it: `node`, `team/app`, `gcr.io/x/y`."""
        if self.on_hub:
            return self.path.removeprefix("library/")
        return f"{self.domain}/{self.path}"


def reference_parse(text: str) -> Reference:
    """Parse and normalise like `reference.ParseNormalizedNamed`; ReferenceInvalid if not."""
    if not text:
        raise ReferenceInvalid("empty")
    if any(c.isspace() for c in text):
        raise ReferenceInvalid("space")
    if len(text) > NAME_MAX + 200:
        raise ReferenceInvalid("long")
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ReferenceInvalid("digest")
    name, tag = rest, None
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ReferenceInvalid("tag")
    domain, path = _split_domain(name)
    if not path:
        raise ReferenceInvalid("path")
    for component in path.split("/"):
        if not _COMPONENT.fullmatch(component):
            raise ReferenceInvalid("upper" if _COMPONENT.fullmatch(component.lower()) else "path")
    if len(f"{domain}/{path}") > NAME_MAX:
        raise ReferenceInvalid("long")
    return Reference(domain, path, tag, digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, remainder = name.partition("/")
    is_host = slash and (any(c in first for c in ".:[") or first == "localhost")
    if not is_host:
        domain, path = HUB, name
    else:
        if not _HOST.fullmatch(first):
            raise ReferenceInvalid("host")
        domain, path = first, remainder  # Docker keeps its case: Docker.io is not Docker Hub
        if domain in _HUB_ALIASES:
            domain = HUB
    if domain == HUB and "/" not in path:
        path = f"library/{path}"
    return domain, path


def is_image_id(text: str) -> bool:
    """`sha256:<hex>`, 64 hex digits, or a bare hex name the engine may take for an ID prefix."""
    if _IMAGE_ID.fullmatch(text):
        return True
    return bool(_HEX.fullmatch(text))  # no tag, no slash: `FROM 3f2a` matches IDs by prefix


def reserved(ref: Reference) -> bool:
    first = ref.familiar.split("/", 1)[0] if ref.on_hub else ""
    return bool(_RESERVED.match(first))


def base_image_problem(text: str, *, where: str) -> str | None:
    """Why a base image reference may not be used (statically), or None."""
    problem, ref = _common_problem(text, where=where)
    if problem or ref is None:
        return problem
    if not ref.on_hub and ref.domain not in COURSE_REGISTRIES:
        return R_REGISTRY.format(where=where, ref=text, registry=ref.domain)
    return None


def own_image_problem(text: str, *, where: str) -> str | None:
    """Why the app's `image:` (the tag of the image Drydock builds) is unusable, or None."""
    problem, ref = _common_problem(text, where=where)
    if problem or ref is None:
        return problem
    if ref.digest:
        return R_DIGEST_TAG.format(where=where, ref=text)
    return None


def _common_problem(text: str, *, where: str) -> tuple[str | None, Reference | None]:
    if is_image_id(text):
        return R_IMAGE_ID.format(where=where, ref=text), None
    try:
        ref = reference_parse(text)
    except ReferenceInvalid as error:
        return R_MALFORMED.format(where=where, ref=text[:200], why=error), None
    if reserved(ref):
        return R_RESERVED.format(where=where, ref=text), None
    return None, ref


def reference_key(text: str) -> str | None:
    """The engine's name for a reference (`docker.io/library/node:18`), or None if invalid."""
    try:
        ref = reference_parse(text)
    except ReferenceInvalid:
        return None
    tag = f":{ref.tag or 'latest'}" if ref.tag or not ref.digest else ""
    return f"{ref.domain}/{ref.path}{tag}" + (f"@{ref.digest}" if ref.digest else "")


def reference_allowed(
    text: str, *, standins: Collection[str], own: Collection[str] = (), where: str = "image"
) -> str | None:
    """Whether the engine may use `text`: None if so, else the learner-facing reason.

    Pure: `standins` are the tags of the images labelled `org.drydock.standin=1` on the
    grading engine (`node:18-alpine`, ...), `own` the app's `image:` names (which the
    runtime must resolve to the job's own image, never to the engine's tag of that name).
    Names are compared after normalisation, so `docker.io/library/node:18-alpine` is
    `node:18-alpine` and `redis` is `redis:latest`; digests and IDs never match.
    """
    if is_image_id(text):
        return R_IMAGE_ID.format(where=where, ref=text)
    key = reference_key(text)
    if key is not None and key in {reference_key(o) for o in own}:
        return None
    problem = base_image_problem(text, where=where)
    if problem:
        return problem
    if key is None or key not in {reference_key(s) for s in standins}:
        available = ", ".join(sorted(standins)) or "none"
        return R_NOT_STANDIN.format(where=where, ref=text, available=available)
    return None
