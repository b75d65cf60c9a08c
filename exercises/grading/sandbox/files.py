"""Files into the engine through its API only: build contexts as tar streams, volumes filled
through a holder container.

No host directory is ever bind-mounted into a learner's container (a container could plant
a symlink there for the grader, running as root, to follow; or swap a directory for a link to
`/` before the engine mounts it). Instead:

* a build context is a tar stream made in memory from the job spec's bytes, with each file's
  mode (an executable entrypoint stays executable) and the project's `.dockerignore` applied
  (docker-py's own pattern matcher, as `docker build` does);
* every volume of a job is a tmpfs-backed local volume with a size and an inode count, so
  what a container writes there is capped by the kernel (bytes, inodes) and charged to the
  writer's memory; a *holder* container (never on a network, no capabilities, read-only
  root) keeps all of them mounted for the job's lifetime, so tmpfs contents survive between
  containers, and files (a copy of a bind-mounted project directory, secrets) are put into
  them with `put_archive`. The engine extracts those archives itself, under its user
  namespace: nothing on the host is written, and nothing a container wrote is ever read back.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from docker.utils.build import PatternMatcher

from ..types import ProjectFile

TAR_MTIME = 1_700_000_000  # fixed: the same files give the same context (and build cache)


def dockerignore_patterns(files: Mapping[str, ProjectFile], context: str = "") -> list[str]:
    """The context's `.dockerignore` patterns, parsed like the docker CLI does."""
    entry = files.get(posixpath.join(context, ".dockerignore") if context else ".dockerignore")
    if entry is None:
        return []
    patterns = []
    for line in entry.content.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = posixpath.normpath(line[1:] if negate else line).lstrip("/")
        patterns.append(("!" if negate else "") + line)
    return patterns


def context_files(
    files: Mapping[str, ProjectFile], context: str, dockerfile: str
) -> dict[str, ProjectFile]:
    """The files of the build context `context` (project-relative), minus `.dockerignore`d
    ones; the Dockerfile and `.dockerignore` are always sent (as the docker CLI does)."""
    prefix = f"{context.rstrip('/')}/" if context else ""
    matcher = PatternMatcher(dockerignore_patterns(files, context))
    keep = {dockerfile, ".dockerignore"}
    found = {}
    for name, entry in files.items():
        if not name.startswith(prefix):
            continue
        relative = name[len(prefix) :]
        if relative in keep or not matcher.matches(relative):
            found[relative] = entry
    return found


def tar_bytes(files: Mapping[str, ProjectFile], *, uid: int = 0, gid: int = 0) -> bytes:
    """A tar archive of `files` with their modes; directories are implied (mode 0755)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        made: set[str] = set()
        for name in sorted(files):
            entry = files[name]
            parent = posixpath.dirname(name)
            missing = []
            while parent and parent not in made:
                missing.append(parent)
                parent = posixpath.dirname(parent)
            for directory in reversed(missing):
                info = tarfile.TarInfo(directory)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, TAR_MTIME
                info.uid, info.gid = uid, gid
                archive.addfile(info)
                made.add(directory)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(entry.content), entry.mode & 0o7777, TAR_MTIME
            info.uid, info.gid = (
                entry.uid if entry.uid is not None else uid,
                entry.gid if entry.gid is not None else gid,
            )
            archive.addfile(info, io.BytesIO(entry.content))
    return buffer.getvalue()


def subtree(files: Mapping[str, ProjectFile], directory: str) -> dict[str, ProjectFile]:
    """The files under `directory` (project-relative, "" = all), relative to it."""
    if not directory:
        return dict(files)
    prefix = directory.rstrip("/") + "/"
    return {name[len(prefix) :]: entry for name, entry in files.items() if name.startswith(prefix)}


@dataclass(frozen=True)
class VolumeSize:
    """The kernel's ceilings of one tmpfs-backed job volume."""

    bytes: int
    inodes: int

    def driver_opts(self, owner: tuple[int, int] = (0, 0)) -> dict[str, str]:
        """`owner`: the host ids of the containers' root (the engine's user-namespace remap),
        so that root in a container owns the volume as it would a plain one (and the engine can
        create nested mount points in it)."""
        uid, gid = owner
        return {
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"size={self.bytes},nr_inodes={self.inodes},mode=0755,uid={uid},gid={gid}",
        }


def holder_mount_point(volume: str) -> str:
    return f"/v/{volume}"


def holder_paths(volumes: Iterable[str]) -> dict[str, str]:
    return {volume: holder_mount_point(volume) for volume in volumes}
