"""Stage 1: cached Debian rootfs tarballs (debootstrap, or the slim one + apt-get)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .catalog import BASES, CACHE, DERIVED_BASES, MIRROR, SUITE
from .recipe import base_key
from .util import CHROOT_ENV, human, log, run, safe_rmtree

_base_locks = {b: threading.Lock() for b in [*BASES, *DERIVED_BASES]}


UNSAFE_IO = "etc/dpkg/dpkg.cfg.d/drydock-build-unsafe-io"  # only while debootstrap runs


def debootstrap_base(base: str, work: Path) -> None:
    debs = CACHE / "debs" / base  # per base: debootstraps may run in parallel
    debs.mkdir(parents=True, exist_ok=True)
    logf = CACHE / "work" / f"base-{base}.log"
    log(f"rootfs base '{base}': debootstrap {SUITE} minbase + {len(BASES[base])} packages ...")
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--cache-dir={debs}",
        f"--include={','.join(BASES[base])}",
        SUITE,
        str(work),
        MIRROR,
    ]
    # dpkg syncs every file it unpacks (tens of thousands here: minutes on a VM disk); the
    # tarball is cached only once debootstrap succeeded, so nothing needs that safety
    unsafe_io = work / UNSAFE_IO
    unsafe_io.parent.mkdir(parents=True)
    unsafe_io.write_text("force-unsafe-io\n")
    with open(logf, "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    unsafe_io.unlink(missing_ok=True)
    if rc != 0:
        tail = logf.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit(
            f"build: debootstrap of base '{base}' failed (log {logf}):\n" + "\n".join(tail)
        )


def derive_base(base: str, work: Path) -> None:
    """The slim base + DERIVED_BASES[base], installed with apt-get in a chroot.

    Everything is marked manually installed afterwards, as debootstrap leaves it, so that an
    `apt-get autoremove` (which `apk del` uses) never takes away what the image is made of.
    """
    log(f"rootfs base '{base}': slim + {' '.join(DERIVED_BASES[base])} ...")
    run(["tar", "--numeric-owner", "-C", str(work), "-xpf", str(base_tarball("slim"))])
    shutil.copyfile("/etc/resolv.conf", work / "etc/resolv.conf")
    (work / "etc/apt/sources.list").write_text(f"deb {MIRROR} {SUITE} main\n")
    policy = work / "usr/sbin/policy-rc.d"  # no service starts inside the chroot
    policy.write_text("#!/bin/sh\nexit 101\n")
    os.chmod(policy, 0o755)
    run(["mount", "-t", "proc", "proc", str(work / "proc")])
    try:
        script = (
            "apt-get update -q && apt-get install -y -q --no-install-recommends"
            " -o DPkg::Options::=--force-unsafe-io "
            + " ".join(DERIVED_BASES[base])
            + " && apt-mark showauto | xargs -r apt-mark manual >/dev/null && apt-get clean"
        )
        run(["chroot", str(work), "/bin/sh", "-ec", script], capture=True, env=CHROOT_ENV)
    finally:
        run(["umount", "-l", str(work / "proc")], check=False)
    policy.unlink()


def base_tarball(base: str) -> Path:
    key = base_key(base)
    out = CACHE / f"base-{base}-{key}.tar"
    with _base_locks[base]:
        if out.exists():
            return out
        t0 = time.time()
        work = CACHE / "work" / f"base-{base}"
        safe_rmtree(work)
        work.mkdir(parents=True)
        if base in DERIVED_BASES:
            derive_base(base, work)
        else:
            debootstrap_base(base, work)
        # drop what no image needs, so the cached tarball stays small
        for p in ["var/cache/apt/archives", "var/lib/apt/lists"]:
            for q in (work / p).glob("*"):
                if q.is_file() and q.name not in ("lock",):
                    q.unlink()
        for q in (work / "var/cache/apt").glob("*.bin"):
            q.unlink()
        tmp = out.with_suffix(".tmp")
        run(["tar", "--numeric-owner", "-C", str(work), "-cf", str(tmp), "."])
        tmp.rename(out)
        safe_rmtree(work)
        for old in CACHE.glob(f"base-{base}-*.tar"):
            if old != out:
                old.unlink()
        log(
            f"rootfs base '{base}': done in {time.time() - t0:.0f}s "
            f"({human(out.stat().st_size)} tarball, cached in {CACHE})"
        )
        return out
