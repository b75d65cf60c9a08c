"""Check 7, tagging-strategy: the app image has a meaningful version tag and the database
image is pinned.

A tag built from variables is judged with the learner's own values when their `.env`
(the file Compose reads for `${VARIABLES}`) sets them; otherwise with the grader's.
"""

from __future__ import annotations

import posixpath
import re

from ..compose import has_variable, interpolate, service_image
from .analysis import NO_APP, NO_DB, Analysis, Verdict
from .references import ImageRef, floating_reason, image_ref
from .values import dotenv

_SEMVER = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")
_TIMESTAMP = re.compile(r"^(\d{9,}|\d{4}-?\d{2}-?\d{2}([T_-]?\d{4,6}Z?)?)$")
_BAD_TAGS = frozenset(
    {
        "latest",
        "new",
        "dev",
        "develop",
        "development",
        "test",
        "testing",
        "tmp",
        "temp",
        "local",
        "current",
        "edge",
        "nightly",
    }
)
LEARNER_ENV = "the tag is resolved with your {file} ({names})"


def tagging_strategy(a: Analysis) -> Verdict:
    v = Verdict()
    if a.app is None:
        v.fail(NO_APP)
    else:
        raw_image = a.raw(a.app).get("image")
        resolved = a.service(a.app).get("image")
        if not isinstance(resolved, str) or not resolved.strip():
            v.fail(f"The app service {a.app} has no image: name and tag.")
        else:
            raw = str(raw_image or resolved)
            learner = _with_learner_env(a, v, raw, resolved)
            _judge_app_tag(v, raw, image_ref(learner or resolved), learner is None)
    db_ref = service_image(a.service(a.db)) if a.db else None
    if a.db is None:
        v.fail(NO_DB)
    elif db_ref is None:
        v.fail(f"The database service {a.db} has no image.")
    elif floating_reason(db_ref) is None:
        v.ok(f"database image {db_ref} is pinned to a version")
    else:
        v.fail(
            f"The database image {db_ref} is not pinned to a version ({floating_reason(db_ref)}; e.g. postgres:17-alpine)."
        )
    return v


def _with_learner_env(a: Analysis, v: Verdict, raw: str, resolved: str) -> str | None:
    """The app image with its tag resolved from the learner's .env, when that file sets
    every variable the tag uses."""
    raw_tag = _tag_part(raw)
    if not raw_tag or not has_variable(raw_tag):
        return None
    name = posixpath.join(posixpath.dirname(a.submission.compose), ".env")
    content = a.submission.files.get(name)
    if content is None:
        return None
    values = dotenv(content.decode("utf-8", "replace"))
    tag, missing = interpolate(raw_tag, values)
    used = sorted(k for k in values if f"${k}" in raw_tag or f"${{{k}" in raw_tag)
    if missing or not used:
        return None
    v.note(LEARNER_ENV.format(file=name, names=", ".join(f"{k}={values[k]}" for k in used)))
    ref = image_ref(resolved)
    return str(ImageRef(ref.registry, ref.repository, tag, None))


def _tag_part(raw: str) -> str | None:
    """The tag of an image as typed (`${VERSION:-1}-${BUILD}`), braces read as one piece."""
    depth, colon = 0, -1
    for i, char in enumerate(raw):
        if raw.startswith("${", i):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth == 0 and char == "/":
            colon = -1
        elif depth == 0 and char == ":":
            colon = i
        elif depth == 0 and char == "@":
            break
    return raw[colon + 1 :].split("@", 1)[0] if colon >= 0 else None


def _judge_app_tag(v: Verdict, raw: str, ref: ImageRef, grader_values: bool) -> None:
    """A tag from variables the grader filled in gets the benefit of the doubt; a tag
    resolved with the learner's own values is judged as it is."""
    raw_tag = _tag_part(raw)
    from_variables = bool(raw_tag and has_variable(raw_tag)) and grader_values
    shown = f"{raw} (resolves to {ref})" if raw != str(ref) else raw
    tag = ref.tag or ""
    if ref.tag is None:
        v.fail(f"The app image {shown} has no tag, which means latest.")
    elif tag.lower().strip("-_.") in _BAD_TAGS:
        v.fail(f"The app image tag {tag!r} says nothing about the version ({shown}).")
    elif _TIMESTAMP.match(tag):
        v.fail(f"The app image tag {tag!r} is a bare timestamp, not a version ({shown}).")
    elif _SEMVER.match(tag):
        v.ok(f"app image {shown} has a semantic version tag")
    elif from_variables:
        v.ok(f"app image {shown} is tagged from build variables")
    else:
        v.fail(f"The app image tag {tag!r} is not a version like 1.2.3 or 1.2.3-b42 ({shown}).")
