"""Which images a learner's stack may name, and what its Dockerfiles would make the engine fetch.

A grading may use two kinds of image: the sandbox's stand-in base images and the image it
builds from the learner's Dockerfile. Any other name is either a way out (a registry on the
host, `FROM 127.0.0.1:5000/x`), a way into another job (its image by tag, by ID, or in
Drydock's own namespace), or a name the engine refuses with a 400 that would otherwise
look like Drydock's fault. So every place an image is named is judged before anything
runs: each service's `image:`, and in each Dockerfile the stack builds, `FROM` (after ARG
and build-arg substitution), `COPY --from`, `RUN --mount=from=` and a `# syntax=` directive. The rules themselves are in
`references`.

`engine_sources_problem` is the judgement the runtime makes just before it builds: no
remote ADD at all (static grading leaves those to the checklist, which fails them), and
every image one of the stand-ins really present on the grading engine.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from .compose_views import find_app_service, find_db_service, mapping
from .dockerfile import Dockerfile, dockerfile_parse, external_sources
from .references import base_image_problem, own_image_problem, reference_allowed
from .types import GradingError, PolicyViolation

V_ADD_URL = (
    "{name} line {line}: ADD fetches {url} from the network; builds in the sandbox have no "
    "network, so COPY the file from your project instead"
)
TOP_DOCKERFILE = "Dockerfile"


def image_violations(config: Mapping[str, Any], *, workdir: Path) -> list[PolicyViolation]:
    """Image violations of Compose's normalised project in `workdir` (services, Dockerfiles)."""
    services = {str(k): v for k, v in mapping(config.get("services")).items()}
    found = compose_image_violations(services)
    for name, text, args in _built_dockerfiles(services, workdir):
        try:
            parsed = dockerfile_parse(text)
        except GradingError:
            continue  # the grader reports a Dockerfile it cannot read as the learner's error
        found += [v for v in dockerfile_violations(parsed, args, name=name) if v not in found]
    return found


def compose_image_violations(services: Mapping[str, Any]) -> list[PolicyViolation]:
    """Each service's `image:`: the app's (and any built service's) is the tag of an image
    the sandbox builds, so only its form is judged; every other one is a base image."""
    db = find_db_service(services)
    app = find_app_service(services, db)
    own = {
        name
        for name, service in services.items()
        if isinstance(service, dict) and (name == app or service.get("build"))
    }
    own_images = {_unescape(services[name].get("image")) for name in own} - {""}
    found: list[PolicyViolation] = []
    for name, service in services.items():
        image = _unescape(mapping(service).get("image"))
        if not image:
            continue
        where = f"service {name}'s image"
        if name in own or image in own_images:
            problem = own_image_problem(image, where=where)
        else:
            problem = base_image_problem(image, where=where)
        if problem:
            found.append(PolicyViolation("image", problem))
    return found


def dockerfile_violations(
    dockerfile: Dockerfile, build_args: Mapping[str, str], *, name: str
) -> list[PolicyViolation]:
    """Unusable images of one Dockerfile, built with `build_args`.

    A remote ADD is not refused here: the checklist fails it (security practices, as the
    exercise says), and the runtime refuses to build it (`engine_sources_problem`).
    """
    images, _ = external_sources(dockerfile, build_args)
    found: list[PolicyViolation] = []
    named = [(f"{name} line {s.line}: {s.what}", s.ref) for s in images]
    if "syntax" in dockerfile.directives:
        value, line = dockerfile.directives["syntax"]
        named.append((f"{name} line {line}: the syntax directive", value))
    for where, ref in named:
        problem = base_image_problem(ref, where=where)
        if problem and all(v.detail != problem for v in found):
            found.append(PolicyViolation("image", problem))
    return found


def engine_sources_problem(
    dockerfile: Dockerfile,
    build_args: Mapping[str, str],
    *,
    standins: Collection[str],
    name: str = TOP_DOCKERFILE,
) -> str | None:
    """Why this build must not reach the engine, or None: a remote ADD, or an image that is
    not one of `standins` (the tags labelled `org.drydock.standin=1` on the engine)."""
    images, urls = external_sources(dockerfile, build_args)
    for url in urls:
        return V_ADD_URL.format(name=name, line=url.line, url=url.ref)
    for source in images:
        where = f"{name} line {source.line}: {source.what}"
        problem = reference_allowed(source.ref, standins=standins, where=where)
        if problem:
            return problem
    return None


def _built_dockerfiles(
    services: Mapping[str, Any], workdir: Path
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(name, text, build args) of every Dockerfile the stack could build: each build's own
    file, its `dockerfile_inline`, and the submission's Dockerfile (which the grader builds
    for the app whatever `build:` names) with each build's arguments."""
    root = os.path.normpath(workdir.resolve())
    files: dict[str, list[dict[str, str]]] = {TOP_DOCKERFILE: [{}]}
    for service_name, service in services.items():
        build = mapping(service).get("build")
        if not isinstance(build, dict):
            continue
        args = {
            str(k): _unescape(str(v))
            for k, v in mapping(build.get("args")).items()
            if v is not None
        }
        if isinstance(build.get("dockerfile_inline"), str):
            yield f"service {service_name}'s dockerfile_inline", build["dockerfile_inline"], args
        context = str(build.get("context") or root)
        path = os.path.normpath(os.path.join(context, str(build.get("dockerfile") or "Dockerfile")))
        if path.startswith(root + os.sep):
            files.setdefault(os.path.relpath(path, root), []).append(args)
        files[TOP_DOCKERFILE].append(args)
    for relative, variants in files.items():
        text = _read_regular(Path(root) / relative)
        for args in [dict(t) for t in {tuple(sorted(a.items())) for a in variants}]:
            if text is not None:
                yield relative, text, args


def _read_regular(path: Path) -> str | None:
    """A file's text, never through a symlink; None if it is not a readable text file."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _unescape(value: Any) -> str:
    """Compose's JSON writes a literal `$` as `$$`."""
    return value.replace("$$", "$") if isinstance(value, str) else ""
