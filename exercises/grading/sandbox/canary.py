"""The canary scan: searches a built image for the exercise's secret values."""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker

from ..types import ProjectFile
from .buildkit import needs_buildkit
from .client import engine_call
from .errors import ENGINE_ERRORS, engine_error, one_line


class _StreamReader(io.RawIOBase):
    """A read()-able view of a docker-py byte-chunk generator (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.consumed += size
        return size


@dataclass
class CanaryScan:
    hits: list[str] = field(default_factory=list)
    scanned_bytes: int = 0
    truncated: bool = False


def canaries_can_reach_layers(
    context: Mapping[str, ProjectFile], dockerfile: str, buildargs: Mapping[str, str],
    canaries: list[str],
) -> bool:  # fmt: skip
    """Whether a build of `context` could have put a canary into a layer at all.

    A classic build is offline and sees only its context, its build args and the stand-in
    base images (which hold no canary: the values are the server's): if no file it was sent
    and no build arg holds a canary, no layer can. BuildKit (secret mounts) and `ADD` (it
    unpacks local archives, where a canary would not show as bytes) always get the scan.
    """
    entry = context.get(dockerfile)
    text = entry.content.decode("utf-8", "replace") if entry else ""
    if needs_buildkit(text) or _ADD.search(text):
        return True
    needles = [c.encode() for c in canaries if c.strip()]
    sources = [*(e.content for e in context.values()), *(v.encode() for v in buildargs.values())]
    return any(needle in source for source in sources for needle in needles)


_ADD = re.compile(r"^\s*(ONBUILD\s+)?ADD\b", re.I | re.M)


def scan_image_for_canaries(
    client: docker.DockerClient,
    image_id: str,
    canaries: list[str],
    *,
    max_bytes: int,
    layers: bool = True,
) -> CanaryScan:
    """Search an image for canary secret values: its env, labels, history and every layer.

    Layers are read from `docker save`, not from a flattened export, so a secret that was
    copied and then deleted in a later layer ("RUN rm secret") is still found: it is still
    in the image anyone can pull. Each layer is searched as raw bytes (`_search_layers`);
    only a layer with a hit is read file by file, to name the files. Hits name the place,
    never the value.
    """
    result = CanaryScan()
    needles = [c.encode() for c in dict.fromkeys(c.strip() for c in canaries) if c]
    if not needles:
        return result
    with engine_call("inspecting the built image"):
        attrs = client.api.inspect_image(image_id)
        history = client.api.history(image_id)
    config = attrs.get("Config") or {}
    for entry in config.get("Env") or []:
        if any(n in entry.encode() for n in needles):
            result.hits.append(f"env:{entry.split('=', 1)[0]}")
    for key, value in (config.get("Labels") or {}).items():
        if any(n in f"{key}={value}".encode() for n in needles):
            result.hits.append(f"label:{key}")
    for step in history:
        created_by = (step.get("CreatedBy") or "").encode()
        if any(n in created_by for n in needles):
            shown = created_by.decode("utf-8", "replace")
            for needle in needles:
                shown = shown.replace(needle.decode(), "***")
            result.hits.append("history:" + one_line(shown.replace("/bin/sh -c #(nop) ", ""), 80))
    if not layers:  # see canaries_can_reach_layers
        return result
    overlap = max(len(n) for n in needles) - 1
    leaky = _search_layers(client, image_id, needles, overlap, result, max_bytes)
    if leaky:  # rare: read those layers again, entry by entry, to name the files

        def name_files(layer: Any, name: str) -> bool:
            if not _scan_layer(layer, needles, overlap, result):  # only in a file's name
                result.hits.append(f"layer:{name.split('/')[0][:12]}")
            return False

        _saved_layers(client, image_id, leaky, name_files)
    return result


def _search_layers(
    client: docker.DockerClient,
    image_id: str,
    needles: list[bytes],
    overlap: int,
    result: CanaryScan,
    max_bytes: int,
) -> list[str]:
    """The layers (by their name in `docker save`) whose raw bytes hold a canary.

    A layer is an uncompressed tar, so a file's content is contiguous in it: a plain byte
    search of each layer (C speed, no per-file parsing of the thousands of files of the
    base image) finds what a file-by-file read would."""
    leaky: list[str] = []

    def search(layer: Any, name: str) -> bool:
        tail = b""
        while chunk := layer.read(1 << 20):
            result.scanned_bytes += len(chunk)
            window = tail + chunk
            if any(n in window for n in needles):
                leaky.append(name)
                return False
            tail = window[-overlap:] if overlap else b""
            if result.scanned_bytes >= max_bytes:
                result.truncated = True
                return True
        return False

    _saved_layers(client, image_id, None, search)
    return leaky


def _saved_layers(
    client: docker.DockerClient,
    image_id: str,
    names: list[str] | None,
    visit: Any,
) -> None:
    """Call `visit(layer_file, name)` for each `*/layer.tar` of `docker save` (only those in
    `names` when given); stops when it returns True."""
    try:
        stream = io.BufferedReader(_StreamReader(client.api.get_image(image_id)), 1 << 20)
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                if not (member.isfile() and member.name.endswith("layer.tar")):
                    continue
                if names is not None and member.name not in names:
                    continue
                layer = outer.extractfile(member)
                if layer is None:
                    continue
                if visit(layer, member.name):
                    break
    except tarfile.TarError as error:
        raise engine_error(error, "reading the saved image") from error
    except ENGINE_ERRORS as error:
        raise engine_error(error, "saving the image for the canary scan") from error


def _scan_layer(layer: Any, needles: list[bytes], overlap: int, result: CanaryScan) -> bool:
    """Search every regular file of one layer tar and name those holding a canary; False if
    none does."""
    found = False
    with tarfile.open(fileobj=layer, mode="r|") as inner:
        for entry in inner:
            if not entry.isfile() or os.path.basename(entry.name).startswith(".wh."):
                continue
            handle = inner.extractfile(entry)
            if handle is None:
                continue
            hit = "file:/" + entry.name.removeprefix("./").lstrip("/")
            tail = b""
            while chunk := handle.read(1 << 20):
                window = tail + chunk
                if any(n in window for n in needles):
                    found = True
                    if hit not in result.hits:
                        result.hits.append(hit)
                    break
                tail = window[-overlap:] if overlap else b""
    return found
