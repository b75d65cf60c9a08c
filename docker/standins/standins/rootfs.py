"""Stage 3: per-flavour changes to a Debian rootfs (Alpine shims, postgres, python, ...)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .catalog import HOST_CPYTHON, PATH_DEFAULT, PYTHON_VERSION
from .util import chroot, in_path, run, symlink

# files dpkg should not install in the small images (like the official debian:*-slim)
DPKG_NODOC = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
"""


# getaddrinfo: prefer IPv4, as musl does on Alpine. Without this, glibc resolves
# "localhost" to ::1 first and busybox wget (which tries only the first address) fails
# against servers listening on 0.0.0.0 — unlike on the real Alpine images.
GAI_CONF = "precedence ::ffff:0:0/96  100\n"


NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
"""


def busybox_links(root: Path) -> None:
    """Like `busybox --install -s`, but never shadowing what Debian already provides."""
    res = run(["chroot", str(root), "/bin/busybox", "--list-full"], capture=True)
    skip = {"init", "linuxrc", "halt", "poweroff", "reboot", "getty", "login"}
    for path in res.stdout.split():
        name = os.path.basename(path)
        if name in skip or in_path(root, name):
            continue
        symlink(root, "/" + path, "/bin/busybox")


def strip_rootfs(root: Path, docs: bool) -> None:
    paths = [
        "var/cache/apt/archives/*.deb",
        "var/cache/apt/*.bin",
        "var/lib/apt/lists/*",
        "var/cache/debconf/*-old",
        "var/lib/dpkg/*-old",
        "var/log/*.log",
        "var/log/apt/*",
        "tmp/*",
        "root/.cache",
        "dev/*",
    ]
    if docs:
        paths += [
            "usr/share/doc/*",
            "usr/share/man/*",
            "usr/share/info/*",
            "usr/share/locale/*",
            "usr/share/lintian/*",
            "usr/share/groff/*",
        ]
    for pat in paths:
        for p in root.glob(pat):
            if p.name in ("lock", "partial") and "apt" in str(p):
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    # let Docker provide these at run time
    (root / "etc/hostname").write_text("")
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/hosts").write_text(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)


def customize_postgres(root: Path) -> None:
    # the package's postinst made a "main" cluster: the entrypoint makes its own in $PGDATA
    shutil.rmtree(root / "var/lib/postgresql/15", ignore_errors=True)
    shutil.rmtree(root / "etc/postgresql/15", ignore_errors=True)
    # JIT needs libLLVM (100+ MB); postgres silently runs without JIT when it's missing
    for p in (
        list((root / "usr/lib/postgresql/15/lib").glob("llvmjit*"))
        + list((root / "usr/lib/x86_64-linux-gnu").glob("libLLVM*"))
        + list((root / "usr/lib/x86_64-linux-gnu").glob("libz3.so*"))
    ):
        p.unlink()
    shutil.rmtree(root / "usr/lib/postgresql/15/lib/bitcode", ignore_errors=True)
    sample = root / "usr/share/postgresql/15/postgresql.conf.sample"
    text = sample.read_text()
    text = re.sub(r"(?m)^#?(listen_addresses)\s*=\s*\S+.*", r"\1 = '*'", text)
    sample.write_text(text)
    # Alpine's official image uses uid/gid 70 (postgres:latest switches to 999 on top)
    chroot(
        root,
        """
        groupmod -g 70 postgres
        usermod -u 70 -g 70 postgres
        mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql /var/lib/postgresql/data
        chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
        chmod 3777 /var/run/postgresql
        chmod 1777 /var/lib/postgresql/data /var/lib/postgresql
        ln -sf /usr/sbin/gosu /usr/local/bin/su-exec
        ln -sf /usr/local/bin/docker-entrypoint.sh /docker-entrypoint.sh
    """,
    )


# parts of a CPython install the official slim image leaves out too
PYTHON_SKIP = shutil.ignore_patterns(
    "__pycache__",
    "*.pyc",
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "site-packages",
    "_tkinter*",
    "_test*",
    "libpython3.11.a",
    "*.a",
)


def customize_python(root: Path) -> None:
    """CPython in /usr/local like the official image: python{,3,3.11}, pip{,3,3.11}, headers.

    The interpreter, its shared library and standard library come from the host's CPython 3.11
    (see host_cpython); pip and setuptools from its own ensurepip. Smoke test: every extension
    module finds its libraries, and a venv can be made and used.
    """
    if HOST_CPYTHON is None:
        raise SystemExit(
            "build: python:3.11-slim needs a CPython 3.11 built on this machine "
            "(pyenv's /root/.pyenv/versions/3.11.*, or DRYDOCK_STANDIN_PYTHON=PREFIX)"
        )
    prefix, _ = HOST_CPYTHON
    local = root / "usr/local"
    shutil.copy2(prefix / "bin/python3.11", local / "bin/python3.11")
    shutil.copy2(prefix / "lib/libpython3.11.so.1.0", local / "lib/libpython3.11.so.1.0")
    symlink(root, "/usr/local/lib/libpython3.11.so", "libpython3.11.so.1.0")
    shutil.copytree(
        prefix / "lib/python3.11",
        local / "lib/python3.11",
        symlinks=True,
        ignore=PYTHON_SKIP,
        dirs_exist_ok=True,
    )
    (local / "lib/python3.11/site-packages").mkdir(exist_ok=True)
    shutil.copytree(prefix / "include/python3.11", local / "include/python3.11", dirs_exist_ok=True)
    for name in ("python", "python3"):
        symlink(root, f"/usr/local/bin/{name}", "python3.11")
    env = {"PATH": PATH_DEFAULT, "HOME": "/root", "LANG": "C.UTF-8"}
    res = run(
        [
            "chroot",
            str(root),
            "/bin/sh",
            "-ec",
            """
        ldconfig
        missing=$(for so in /usr/local/lib/python3.11/lib-dynload/*.so; do ldd "$so"; done | grep 'not found' || true)
        [ -z "$missing" ] || { echo "missing libraries: $missing"; exit 1; }
        python3 -m ensurepip --default-pip >/dev/null
        rm -rf /root/.cache
        python -m venv /tmp/smoke
        /tmp/smoke/bin/python -c 'import platform, ssl, sqlite3, ctypes, lzma, bz2, uuid, decimal, readline, curses; print(platform.python_version())'
        rm -rf /tmp/smoke
        find /usr/local -depth -name __pycache__ -exec rm -rf {} +
    """,
        ],
        capture=True,
        env=env,
    )
    if res.stdout.strip().splitlines()[-1:] != [PYTHON_VERSION]:
        raise SystemExit(f"build: python smoke test failed: {res.stdout!r} {res.stderr!r}")


def customize_redis(root: Path) -> None:
    """The official redis image: user redis (uid 999), /data owned by it, su-exec."""
    chroot(
        root,
        """
        groupmod -g 1000 redis
        usermod -u 999 -g 1000 redis
        mkdir -p /data
        chown redis:redis /data /var/lib/redis /var/log/redis
        ln -sf /usr/sbin/gosu /usr/local/bin/su-exec
    """,
    )


def customize_nginx(root: Path) -> None:
    """The official nginx image's layout on Debian's nginx: user nginx (uid/gid 101),
    /etc/nginx/{nginx.conf,conf.d/default.conf} (overlay "nginx"), logs to stdout/stderr."""
    for p in (
        "etc/nginx/sites-enabled",
        "etc/nginx/sites-available",
        "etc/nginx/modules-enabled",
        "var/www/html",
    ):
        shutil.rmtree(root / p, ignore_errors=True)
    chroot(
        root,
        """
        addgroup -g 101 -S nginx
        adduser -S -D -H -u 101 -h /var/cache/nginx -s /sbin/nologin -G nginx nginx
        mkdir -p /var/cache/nginx /var/log/nginx /etc/nginx/templates
        chown nginx:nginx /var/cache/nginx
        ln -sf /dev/stdout /var/log/nginx/access.log
        ln -sf /dev/stderr /var/log/nginx/error.log
        chmod 755 /docker-entrypoint.sh /docker-entrypoint.d/*.sh
    """,
    )
