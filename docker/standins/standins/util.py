"""Logging, subprocesses, docker inspect, file helpers, prerequisites."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .catalog import OVERLAYS, PATH_DEFAULT, REPO

_print_lock = threading.Lock()


T0 = time.time()


VERBOSE = False


def log(msg: str) -> None:
    elapsed = int(time.time() - T0)
    with _print_lock:
        print(f"[{elapsed // 60}:{elapsed % 60:02d}] {msg}", flush=True)


def vlog(msg: str) -> None:
    if VERBOSE:
        log("  .. " + msg)


def run(cmd, *, check=True, capture=False, input=None, env=None, cwd=None):
    vlog(" ".join(str(c) for c in cmd) if isinstance(cmd, (list, tuple)) else cmd)
    res = subprocess.run(
        cmd,
        check=False,
        input=input,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=isinstance(input, str) or input is None,
    )
    if check and res.returncode != 0:
        detail = ""
        if capture:
            detail = "\n" + (res.stdout or "")[-3000:] + (res.stderr or "")[-3000:]
        raise SystemExit(
            f"build: command failed ({res.returncode}): "
            f"{' '.join(map(str, cmd)) if isinstance(cmd, list) else cmd}{detail}"
        )
    return res


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def inspect(ref: str) -> dict | None:
    res = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, text=True)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout)[0]


def labels_of(info: dict | None) -> dict:
    if not info:
        return {}
    return (info.get("Config") or {}).get("Labels") or {}


def human(n: int) -> str:
    return f"{n / 1e6:.0f}MB" if n >= 1e6 else f"{n / 1e3:.0f}kB"


def ensure_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit("build: must run as root (debootstrap, chroot, docker)")


def apt_install(*pkgs: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        run(["apt-get", "update", "-q"], env=env, capture=True)
        run(cmd, env=env, capture=True)


def ensure_tools() -> None:
    if not shutil.which("debootstrap"):
        log("installing debootstrap")
        apt_install("debootstrap", "debian-archive-keyring", "gpgv")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        starter = REPO / "scripts" / "start-engine"
        if starter.exists():
            run([str(starter)])
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            raise SystemExit("build: docker engine not reachable (run scripts/start-engine)")


CHROOT_ENV = {
    "PATH": PATH_DEFAULT,
    "HOME": "/root",
    "LC_ALL": "C",
    "DEBIAN_FRONTEND": "noninteractive",
}


def safe_rmtree(path: Path) -> None:
    """rm -rf that first unmounts whatever an interrupted debootstrap left mounted inside."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as fh:
        mounts = [line.split()[1] for line in fh]
    for m in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def chroot(root: Path, script: str) -> None:
    env = {
        "PATH": PATH_DEFAULT,
        "HOME": "/root",
        "LC_ALL": "C",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    run(["chroot", str(root), "/bin/sh", "-ec", script], env=env, capture=True)


def symlink(root: Path, path: str, target: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    os.symlink(target, p)


def copy_overlay(root: Path, name: str) -> None:
    src = OVERLAYS / name
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        dst = root / rel
        if p.is_dir() and not p.is_symlink():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if p.is_symlink():
            os.symlink(os.readlink(p), dst)
        else:
            shutil.copyfile(p, dst)
            os.chmod(dst, 0o755 if p.stat().st_mode & 0o111 else 0o644)
            os.chown(dst, 0, 0)


def in_path(root: Path, name: str) -> bool:
    return any(
        (root / d.lstrip("/") / name).exists() or (root / d.lstrip("/") / name).is_symlink()
        for d in PATH_DEFAULT.split(":")
    )
