"""The command line: what to build, in which order, in parallel; the summary."""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from . import util
from .catalog import CACHE, FLAVORS, LABEL, ROOTFS_REPO
from .grading import GradingEngineCopier
from .images import build_layer, build_rootfs, build_tag
from .node import npm_tarball, npm_tarballs_for
from .offline import offline_debs
from .recipe import flavor_hash, image_hash
from .tags import IMAGES
from .util import ensure_root, ensure_tools, human, inspect, labels_of, log


def main(description: str = "Build Drydock's local stand-in base images.") -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("tags", nargs="*", help="only these tags (default: all)")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    ap.add_argument("--list", action="store_true", help="list tags and hashes, build nothing")
    ap.add_argument(
        "--grading-engine",
        action="store_true",
        help="copy each group of tags into the grading engine as soon as it is built",
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    util.VERBOSE = args.verbose

    tags = args.tags or list(IMAGES)
    unknown = [t for t in tags if t not in IMAGES]
    if unknown:
        raise SystemExit(f"build: unknown tag(s) {unknown}; known: {', '.join(IMAGES)}")

    if args.list:
        for t in tags:
            print(f"{t:44} flavor={IMAGES[t]['flavor']:26} recipe={image_hash(t)}")
        return 0

    ensure_root()
    CACHE.mkdir(parents=True, exist_ok=True)
    ensure_tools()
    t_start = time.time()

    want = {t: image_hash(t) for t in tags}
    old_ids: dict[str, str] = {}
    todo: list[str] = []
    results: dict[str, tuple] = {}
    for t in tags:
        info = inspect(t)
        if info and not args.force and labels_of(info).get(f"{LABEL}.recipe") == want[t]:
            results[t] = ("skipped", info["Size"], 0.0)
        else:
            todo.append(t)
            if info:
                old_ids[t] = info["Id"]

    by_flavor: dict[str, list[str]] = {}
    for t in todo:
        by_flavor.setdefault(IMAGES[t]["flavor"], []).append(t)

    old_rootfs: list[str] = []
    flavor_locks = {f: threading.Lock() for f in FLAVORS}
    ready: set[str] = set()

    def ensure_rootfs(flavor: str) -> str:
        """The flavour's rootfs image, built (with its parents) if missing or out of date."""
        ref = f"{ROOTFS_REPO}:{flavor}"
        parent = FLAVORS[flavor].get("parent")
        parent_ref = ensure_rootfs(parent) if parent else None
        with flavor_locks[flavor]:
            if flavor in ready:
                return ref
            fh = flavor_hash(flavor)
            info = inspect(ref)
            if not info or args.force or labels_of(info).get(f"{LABEL}.rootfs") != fh:
                if info:
                    old_rootfs.append(info["Id"])
                if parent_ref:
                    build_layer(flavor, fh, parent_ref)
                else:
                    build_rootfs(flavor, fh)
            ready.add(flavor)
            return ref

    def do_flavor(flavor: str) -> None:
        t0 = time.time()
        ref = ensure_rootfs(flavor)
        rootfs_secs = time.time() - t0
        for i, t in enumerate(by_flavor.get(flavor, [])):
            t1 = time.time()
            build_tag(t, ref, want[t])
            secs = time.time() - t1 + (rootfs_secs if i == 0 else 0.0)
            info_t = inspect(t)
            results[t] = ("built", info_t["Size"], secs)
            log(f"{t:34} built    {human(info_t['Size']):>7}  {secs:5.1f}s")

    def root_base(flavor: str) -> str:
        f = FLAVORS[flavor]
        return f["base"] if f.get("base") else root_base(f["parent"])

    # the big, slow bases first (debootstrap is partly network-bound, so three at a time)
    needed = set()
    for f in by_flavor:
        while f and f not in needed:
            needed.add(f)
            f = FLAVORS[f].get("parent")
    order = sorted(
        needed,
        key=lambda f: ("parent" in FLAVORS[f], root_base(f) != "full", root_base(f) != "pg", f),
    )

    # Downloads overlap the CPU-bound work: the npm tarballs and the offline package set are
    # fetched in the background from the start, not when the first flavour needs them.
    def prefetch() -> None:
        for name, version in npm_tarballs_for(order):
            npm_tarball(name, version)
        if any(FLAVORS[f].get("offline") or FLAVORS[f].get("distroless") for f in order):
            offline_debs()

    prefetcher = ThreadPoolExecutor(max_workers=1)
    prefetched = prefetcher.submit(prefetch)
    errors = []
    copier = GradingEngineCopier(tags, order) if args.grading_engine else None
    with ThreadPoolExecutor(max_workers=3) as pool:
        futs = {pool.submit(do_flavor, f): f for f in order}
        for fut in as_completed(futs):
            f = futs[fut]
            try:
                fut.result()
            except SystemExit as e:
                errors.append(f"{f}: {e}")
            except Exception as e:  # noqa: BLE001
                errors.append(f"{f}: {type(e).__name__}: {e}")
            else:
                if copier:
                    copier.flavor_done(f)
    if copier:
        errors += copier.finish()
    try:
        prefetched.result()
    except (SystemExit, Exception) as e:  # noqa: BLE001 - reported once more, by its user
        if not errors:
            errors.append(f"downloads: {e}")
    prefetcher.shutdown()

    # drop the images the rebuilt tags replaced (kept if something still uses them)
    for t, old in old_ids.items():
        info = inspect(t)
        if info and info["Id"] != old:
            subprocess.run(["docker", "rmi", old], capture_output=True)
    for old in old_rootfs:
        subprocess.run(["docker", "rmi", old], capture_output=True)

    for t in tags:
        if t in results and results[t][0] == "skipped":
            log(f"{t:34} skipped  {human(results[t][1]):>7}  {results[t][2]:5.1f}s")
    if errors:
        for e in errors:
            print(f"build: ERROR {e}", file=sys.stderr)
        return 1
    full = results.get("node:18", (None, 0))[1]
    alp = results.get("node:18-alpine", (None, 0))[1]
    if full and alp:
        log(f"size ratio node:18-alpine / node:18 = {alp / full:.2f}")
    log(f"stand-ins ready in {time.time() - t_start:.1f}s")
    return 0
