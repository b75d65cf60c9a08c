"""Every stand-in tag: which flavour it is made from and its metadata (ENV, CMD, note)."""

from __future__ import annotations

from .catalog import (
    DISTROLESS_NODE,
    NGINX_REAL,
    NODE_CURRENT,
    NODE_LTS,
    NODE_VERSIONS,
    PATH_DEFAULT,
    PG_REAL,
    PYTHON_VERSION,
    REDIS_REAL,
    SUITE,
    YARN_VERSION,
)


def node_image(major: str, full: bool, variant: str) -> dict:
    return {
        "flavor": f"node{major}-{'full' if full else 'slim'}",
        "env": {
            "PATH": PATH_DEFAULT,
            "NODE_VERSION": NODE_VERSIONS[major],
            "YARN_VERSION": YARN_VERSION,
        },
        "entrypoint": ["docker-entrypoint.sh"],
        "cmd": ["node"],
        "note": f"official node {NODE_VERSIONS[major]} binary on Debian {SUITE} ({variant})",
    }


def node_tags() -> dict:
    """node:<major|lts|current>[-alpine|-slim|-bookworm|-bookworm-slim] and the bare aliases."""
    out = {}
    names = {m: m for m in NODE_VERSIONS}
    names.update({"lts": NODE_LTS, "current": NODE_CURRENT})
    for name, major in names.items():
        out[f"node:{name}"] = node_image(major, True, "full, with build tools")
        out[f"node:{name}-bookworm"] = node_image(major, True, "full, with build tools")
        out[f"node:{name}-alpine"] = node_image(major, False, "alpine-like")
        out[f"node:{name}-slim"] = node_image(major, False, "slim")
        out[f"node:{name}-bookworm-slim"] = node_image(major, False, "slim")
    # latest == current on Docker Hub
    out["node:latest"] = node_image(NODE_CURRENT, True, "full, with build tools")
    out["node:bookworm"] = node_image(NODE_CURRENT, True, "full, with build tools")
    out["node:alpine"] = node_image(NODE_CURRENT, False, "alpine-like")
    out["node:slim"] = node_image(NODE_CURRENT, False, "slim")
    out["node:bookworm-slim"] = node_image(NODE_CURRENT, False, "slim")
    return out


def pg_image(tag: str, debian: bool, major: int) -> dict:
    """postgres:<major>: Debian's PostgreSQL 15 underneath, the layout of the named major.

    From 18 on, the official image keeps PGDATA in /var/lib/postgresql/18/docker and declares
    the VOLUME at /var/lib/postgresql; its entrypoint refuses a mount at the old
    /var/lib/postgresql/data (see rootfs/postgres/.../docker-entrypoint.sh).
    """
    pgdata = f"/var/lib/postgresql/{major}/docker" if major >= 18 else "/var/lib/postgresql/data"
    return {
        "flavor": "postgres-debian" if debian else "postgres",
        "env": {
            "PATH": f"/usr/lib/postgresql/{PG_REAL}/bin:" + PATH_DEFAULT,
            "PG_MAJOR": PG_REAL,
            "LANG": "C.UTF-8",
            "PGDATA": pgdata,
        },
        "volume": ["/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"],
        "entrypoint": ["docker-entrypoint.sh"],
        "stopsignal": "SIGINT",
        "expose": ["5432"],
        "cmd": ["postgres"],
        "note": f"Debian {SUITE} PostgreSQL {PG_REAL} standing in for {tag}"
        + (f" (with PostgreSQL {major}'s data layout)" if major >= 18 else ""),
    }


def pg_tags() -> dict:
    out = {}
    for major in (14, 15, 16, 17, 18):
        out[f"postgres:{major}"] = pg_image(f"postgres:{major}", True, major)
        out[f"postgres:{major}-bookworm"] = pg_image(f"postgres:{major}-bookworm", True, major)
        out[f"postgres:{major}-alpine"] = pg_image(f"postgres:{major}-alpine", False, major)
    # latest and alpine are 18 on Docker Hub since September 2025
    out["postgres:latest"] = pg_image("postgres:latest", True, 18)
    out["postgres:alpine"] = pg_image("postgres:alpine", False, 18)
    return out


def python_image(tag: str) -> dict:
    return {
        "flavor": "python311",
        "env": {"PATH": PATH_DEFAULT, "LANG": "C.UTF-8", "PYTHON_VERSION": PYTHON_VERSION},
        "cmd": ["python3"],
        "note": f"CPython {PYTHON_VERSION} in /usr/local on Debian {SUITE}, standing in for {tag}",
    }


def redis_image(tag: str) -> dict:
    return {
        "flavor": "redis",
        "env": {"PATH": PATH_DEFAULT, "REDIS_VERSION": REDIS_REAL},
        "volume": ["/data"],
        "workdir": "/data",
        "entrypoint": ["docker-entrypoint.sh"],
        "expose": ["6379"],
        "cmd": ["redis-server"],
        "note": f"Debian {SUITE} redis-server {REDIS_REAL} standing in for {tag}",
    }


def nginx_image(tag: str) -> dict:
    return {
        "flavor": "nginx",
        "env": {"PATH": PATH_DEFAULT, "NGINX_VERSION": NGINX_REAL},
        "entrypoint": ["/docker-entrypoint.sh"],
        "expose": ["80"],
        "stopsignal": "SIGQUIT",
        "cmd": ["nginx", "-g", "daemon off;"],
        "note": f"Debian {SUITE} nginx {NGINX_REAL} standing in for {tag}",
    }


def distroless_image(major: str, nonroot: bool, debug: bool) -> dict:
    spec = {
        "flavor": f"distroless-node{major}" + ("-debug" if debug else ""),
        "env": {
            "PATH": PATH_DEFAULT + (":/busybox" if debug else ""),
            "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        },
        "entrypoint": ["/nodejs/bin/node"],
        "cmd": None,
        "note": f"official node {NODE_VERSIONS[major]} binary on Debian {SUITE} glibc "
        "(distroless-like: no shell" + (", busybox in /busybox" if debug else "") + ")",
    }
    if nonroot:
        spec["user"] = "65532"
        spec["workdir"] = "/home/nonroot"
    return spec


def distroless_tags() -> dict:
    out = {}
    for m in DISTROLESS_NODE:
        repo = f"gcr.io/distroless/nodejs{m}-debian12"
        out[f"{repo}:latest"] = distroless_image(m, False, False)
        out[f"{repo}:nonroot"] = distroless_image(m, True, False)
        out[f"{repo}:debug"] = distroless_image(m, False, True)
        out[f"{repo}:debug-nonroot"] = distroless_image(m, True, True)
    return out


ALPINE_NOTE = f"Debian {SUITE} minbase + busybox standing in for Alpine"


BUSYBOX_NOTE = "Debian's busybox 1.35 + glibc (like busybox:glibc)"


IMAGES = {
    **node_tags(),
    **pg_tags(),
    "alpine:3.19": {
        "flavor": "alpine",
        "env": {"PATH": PATH_DEFAULT},
        "cmd": ["/bin/sh"],
        "note": ALPINE_NOTE,
    },
    "alpine:3.20": {
        "flavor": "alpine",
        "env": {"PATH": PATH_DEFAULT},
        "cmd": ["/bin/sh"],
        "note": ALPINE_NOTE,
    },
    "alpine:latest": {
        "flavor": "alpine",
        "env": {"PATH": PATH_DEFAULT},
        "cmd": ["/bin/sh"],
        "note": ALPINE_NOTE,
    },
    "busybox:latest": {
        "flavor": "busybox",
        "env": {"PATH": PATH_DEFAULT},
        "cmd": ["sh"],
        "note": BUSYBOX_NOTE,
    },
    "busybox:1.36": {
        "flavor": "busybox",
        "env": {"PATH": PATH_DEFAULT},
        "cmd": ["sh"],
        "note": BUSYBOX_NOTE,
    },
    "python:3.11-slim": python_image("python:3.11-slim"),
    "python:3.11-slim-bookworm": python_image("python:3.11-slim-bookworm"),
    **{
        f"redis:{v}": redis_image(f"redis:{v}")
        for v in ("7-alpine", "7.2-alpine", "7.4-alpine", "alpine")
    },
    **{
        f"nginx:{v}": nginx_image(f"nginx:{v}")
        for v in ("alpine", "stable-alpine", "mainline-alpine", "1.27-alpine")
    },
    **distroless_tags(),
}
