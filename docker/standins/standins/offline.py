"""Stage 1b: the offline package set, a local apt repository baked into the images."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

from .catalog import CACHE, MIRROR, OFFLINE_BUILD, OFFLINE_REPO, OFFLINE_TOOLS, SUITE
from .debian import base_tarball
from .recipe import offline_key
from .util import CHROOT_ENV, human, log, run, safe_rmtree, sha256_bytes

_offline_lock = threading.Lock()


def offline_debs() -> Path:
    """The .debs of the offline package set plus what they need on top of the slim base.

    Resolved once by apt inside the slim base (network is needed here, never in the images)
    and cached in CACHE/offline-<key>/: debs/ and index.json (per .deb its package, version,
    Packages stanza and whether the "tools" half needs it).
    """
    out = CACHE / f"offline-{offline_key()}"
    with _offline_lock:
        if (out / "index.json").exists():
            return out
        t0 = time.time()
        work = CACHE / "work" / "offline"
        safe_rmtree(work)
        work.mkdir(parents=True)
        run(["tar", "--numeric-owner", "-C", str(work), "-xpf", str(base_tarball("slim"))])
        shutil.copyfile("/etc/resolv.conf", work / "etc/resolv.conf")
        (work / "etc/apt/sources.list").write_text(f"deb {MIRROR} {SUITE} main\n")

        def apt(*args: str) -> str:
            return run(
                ["chroot", str(work), "apt-get", "-q", *args], capture=True, env=CHROOT_ENV
            ).stdout

        apt("update")

        def closure(pkgs: list[str]) -> set[str]:
            text = apt("install", "-s", "--no-install-recommends", *pkgs)
            return {ln.split()[1] for ln in text.splitlines() if ln.startswith("Inst ")}

        tools = closure(OFFLINE_TOOLS)
        closure(OFFLINE_TOOLS + OFFLINE_BUILD)  # fails here if a name is wrong
        (work / "debs/partial").mkdir(parents=True)
        apt(
            "install",
            "-y",
            "--download-only",
            "--no-install-recommends",
            "-o",
            "Dir::Cache::archives=/debs",
            *OFFLINE_TOOLS,
            *OFFLINE_BUILD,
        )
        tmp = out.with_suffix(".tmp")
        safe_rmtree(tmp)
        (tmp / "debs").mkdir(parents=True)
        index = {}
        for deb in sorted((work / "debs").glob("*.deb")):
            data = deb.read_bytes()
            control = run(["dpkg-deb", "-f", str(deb)], capture=True).stdout.rstrip("\n")
            fields = dict(re.findall(r"(?m)^(Package|Version): (.+)$", control))
            stanza = (
                f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
                f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {sha256_bytes(data)}\n"
            )
            index[deb.name] = {
                "package": fields["Package"],
                "version": fields["Version"],
                "stanza": stanza,
                "tools": fields["Package"] in tools,
            }
            shutil.move(str(deb), tmp / "debs" / deb.name)
        (tmp / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True))
        safe_rmtree(work)
        tmp.rename(out)
        for old in CACHE.glob("offline-*"):
            if old != out:
                safe_rmtree(old)
        size = sum(p.stat().st_size for p in (out / "debs").iterdir())
        log(f"offline packages: {len(index)} .debs, {human(size)}, in {time.time() - t0:.0f}s")
        return out


def dpkg_installed(root: Path) -> dict[str, str]:
    """package -> version of what is installed in a rootfs (from dpkg's status file)."""
    installed = {}
    for block in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(re.findall(r"(?m)^(Package|Version|Status): (.+)$", block))
        if fields.get("Status", "").endswith(" installed"):
            installed[fields["Package"]] = fields.get("Version", "")
    return installed


def install_offline_repo(root: Path, which: str) -> None:
    """Bake the offline set into a rootfs as a flat apt repository, the only apt source.

    Only .debs that are not installed there already at the same version are copied, so the
    full images, which have most of the set, grow little. `apt-get update` reads it like any
    mirror; /usr/local/bin/apt-get (overlay "offline") explains a package that is not in it.
    """
    src = offline_debs()
    index = json.loads((src / "index.json").read_text())
    installed = dpkg_installed(root)
    repo = root / OFFLINE_REPO.lstrip("/")
    repo.mkdir(parents=True, exist_ok=True)
    stanzas = []
    for name, meta in sorted(index.items()):
        if which == "tools" and not meta["tools"]:
            continue
        if installed.get(meta["package"]) == meta["version"]:
            continue
        try:
            os.link(src / "debs" / name, repo / name)
        except OSError:
            shutil.copyfile(src / "debs" / name, repo / name)
        os.chmod(repo / name, 0o644)
        stanzas.append(meta["stanza"])
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    (repo / "Release").write_text(
        "Origin: Drydock\nLabel: drydock-offline\nSuite: offline\nCodename: offline\n"
        "Date: Sat, 01 Nov 2025 00:00:00 UTC\n"
        f"Architectures: amd64 all\nDescription: the offline package set of Drydock's sandbox\n"
        f"SHA256:\n {sha256_bytes(packages)} {len(packages)} Packages\n"
    )
    offered = OFFLINE_TOOLS + (OFFLINE_BUILD if which == "build" else [])
    (repo / "OFFERED").write_text(" ".join(sorted(offered)) + "\n")
    for p in [root / "etc/apt/sources.list", *(root / "etc/apt/sources.list.d").glob("*")]:
        p.unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/drydock-offline.list").write_text(
        "# Drydock's sandbox has no network: the offline package set is the only source\n"
        f"deb [trusted=yes] file:{OFFLINE_REPO} ./\n"
    )
