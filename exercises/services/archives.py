"""A learner's project uploaded as a .zip: its files, and which of them are executable.

The mode bits a zip records (`external_attr`, as `zip` and every Unix archiver write them)
are what a learner's repository says: an entrypoint or health-check script that is executable
there must be executable in their image too. Only the execute bit is kept (0755 or 0644);
names go through the grader's own checks (no absolute paths, no `..`), symbolic links and
oversized members are refused before anything is read, and a single top-level folder (the
way a repository is zipped) is stripped.
"""

from __future__ import annotations

import io
import stat
import zipfile

from ..grading.files import FILE_TOO_LARGE, MAX_FILE_BYTES, MAX_FILES, TOO_MANY_FILES
from .intake import ALL_FILES, SubmissionError

NOT_A_ZIP = "The upload is not a .zip archive."
ZIP_SYMLINK = "{name} is a symbolic link; put the file itself in the archive."
SKIPPED = ("__MACOSX/", ".DS_Store", ".git/", "node_modules/")


def archive_files(*, data: bytes) -> tuple[dict[str, bytes], set[str]]:
    """(files, executables) of a zip archive; `SubmissionError` for what cannot be graded."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        raise SubmissionError({ALL_FILES: [NOT_A_ZIP]}) from None
    members = [m for m in members if not any(part in m.filename for part in SKIPPED)]
    prefix = _common_folder([m.filename for m in members])
    if len(members) > MAX_FILES:
        raise SubmissionError({ALL_FILES: [TOO_MANY_FILES.format(count=len(members))]})
    files: dict[str, bytes] = {}
    executables: set[str] = set()
    for member in members:
        name = member.filename.removeprefix(prefix)
        mode = member.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise SubmissionError({name: [ZIP_SYMLINK.format(name=name)]})
        if member.file_size > MAX_FILE_BYTES:  # checked before anything is inflated
            raise SubmissionError({name: [_too_large(name, member.file_size)]})
        with archive.open(member) as handle:
            content = handle.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:  # a header that lied about the size
            raise SubmissionError({name: [_too_large(name, len(content))]})
        files[name] = content
        if mode & 0o111:
            executables.add(name)
    return files, executables


def _too_large(name: str, size: int) -> str:
    return FILE_TOO_LARGE.format(name=name, size=-(-size // 1024))


def _common_folder(names: list[str]) -> str:
    """ "project/" when every name starts with the same single folder, else ""."""
    firsts = {name.split("/", 1)[0] for name in names}
    if len(firsts) == 1 and all("/" in name for name in names):
        return firsts.pop() + "/"
    return ""
