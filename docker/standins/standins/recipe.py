"""Recipe hashes: what an image is made of, so an unchanged one is never rebuilt."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .catalog import (
    BASES,
    DERIVED_BASES,
    FLAVORS,
    HERE,
    OFFLINE_BUILD,
    OFFLINE_TOOLS,
    OVERLAYS,
    PYTHON_VERSION,
    SUITE,
)
from .tags import IMAGES
from .util import sha256_bytes


def overlay_digest(name: str) -> list:
    root = OVERLAYS / name
    out = []
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out.append([rel, "link", os.readlink(p)])
            elif p.is_file():
                out.append(
                    [
                        rel,
                        oct(p.stat().st_mode & 0o111 and 0o755 or 0o644),
                        sha256_bytes(p.read_bytes()),
                    ]
                )
    return out


def flavor_overlays(flavor: str) -> list:
    """The rootfs/ overlay directories a flavour's files come from."""
    f = FLAVORS[flavor]
    if f.get("parent"):
        return ["node"] if f.get("node") and not flavor.startswith("distroless") else []
    if f.get("distroless"):
        return []
    names = [] if f.get("debian_slim") else ["common"]
    if f.get("alpine") or f.get("busybox"):
        names.append("wget")
    for key in ("alpine", "offline", "postgres", "redis", "nginx"):
        if f.get(key):
            names.append(key)
    return names


def base_key(base: str) -> str:
    if base in DERIVED_BASES:
        return sha256_bytes(
            json.dumps(
                {"from": base_key("slim"), "add": sorted(DERIVED_BASES[base]), "v": 1}
            ).encode()
        )[:16]
    return sha256_bytes(
        json.dumps({"suite": SUITE, "include": sorted(BASES[base]), "v": 2}).encode()
    )[:16]


def offline_key() -> str:
    return sha256_bytes(
        json.dumps(
            {"slim": base_key("slim"), "tools": OFFLINE_TOOLS, "build": OFFLINE_BUILD, "v": 1}
        ).encode()
    )[:16]


# the code is part of the recipe: the entry point and every module of this package
_CODE = [HERE / "build", *sorted(Path(__file__).resolve().parent.glob("*.py"))]
_script_digest = sha256_bytes(b"".join(p.read_bytes() for p in _CODE))


def flavor_hash(flavor: str) -> str:
    f = FLAVORS[flavor]
    doc = {
        "script": _script_digest,
        "flavor": f,
        "cpython": PYTHON_VERSION if f.get("python") else None,
        "base": base_key(f["base"]) if f.get("base") else None,
        "parent": flavor_hash(f["parent"]) if f.get("parent") else None,
        "offline": offline_key() if f.get("offline") or f.get("distroless") else None,
        "overlays": {n: overlay_digest(n) for n in flavor_overlays(flavor)},
    }
    return sha256_bytes(json.dumps(doc, sort_keys=True).encode())[:16]


def image_hash(tag: str) -> str:
    spec = IMAGES[tag]
    doc = {"flavor": flavor_hash(spec["flavor"]), "spec": spec, "tag": tag}
    return sha256_bytes(json.dumps(doc, sort_keys=True).encode())[:16]


def root_flavor(flavor: str) -> str:
    """The imported flavour a flavour is layered on (itself for an imported one)."""
    parent = FLAVORS[flavor].get("parent")
    return root_flavor(parent) if parent else flavor
