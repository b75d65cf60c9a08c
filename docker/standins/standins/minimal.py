"""Stage 3: the rootfs made from parts of the slim one (distroless, busybox)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .rootfs import GAI_CONF, NSSWITCH
from .util import run, symlink


def make_distroless_rootfs(root: Path, slim: Path) -> None:
    """gcr.io/distroless/cc-debian12-like: glibc, libgcc, libstdc++, libssl, CA certificates,
    tzdata, os-release and the users root, nobody, nonroot (65532). No shell, no busybox."""
    res = run(
        ["chroot", str(slim), "dpkg", "-L", "libc6", "libgcc-s1", "libstdc++6", "libssl3"],
        capture=True,
    )
    slim_real = slim.resolve()
    for path in sorted(set(res.stdout.split())):
        src = slim / path.lstrip("/")
        if path.startswith(
            (
                "/usr/share/doc",
                "/usr/share/lintian",
                "/usr/share/man",
                "/usr/share/locale",
                "/usr/share/gdb",
            )
        ):
            continue
        if not (src.is_symlink() or src.is_file()):
            continue
        dst = root / Path(os.path.realpath(src.parent)).relative_to(slim_real) / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            continue
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    for name in ("lib", "lib64"):
        symlink(root, f"/{name}", f"usr/{name}")
    (root / "etc/ssl/certs").mkdir(parents=True)
    shutil.copyfile(
        slim / "etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt"
    )
    shutil.copyfile(slim / "usr/lib/os-release", root / "etc/os-release")
    # tzdata (Priority: required in Debian, so it is in every base)
    shutil.copytree(slim / "usr/share/zoneinfo", root / "usr/share/zoneinfo", symlinks=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    )
    (root / "etc/group").write_text(
        "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
    )
    (root / "etc/nsswitch.conf").write_text(NSSWITCH)
    for d, mode, owner in (
        ("root", 0o700, 0),
        ("home/nonroot", 0o700, 65532),
        ("tmp", 0o1777, 0),
        ("proc", 0o755, 0),
        ("sys", 0o755, 0),
        ("dev", 0o755, 0),
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
        os.chown(root / d, owner, owner)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    (root / "etc/hostname").write_text("")
    (root / "etc/resolv.conf").write_text("")


def make_busybox_rootfs(root: Path, slim: Path) -> None:
    """busybox:glibc-like image: Debian's busybox plus the glibc it links against."""
    for d in [
        "bin",
        "etc",
        "home",
        "root",
        "tmp",
        "var/spool/mail",
        "var/www",
        "usr/local/sbin",
        "lib",
        "lib64",
        "proc",
        "sys",
        "dev",
    ]:
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    shutil.copy2(slim / "usr/bin/busybox", root / "bin/busybox")
    res = run(["chroot", str(slim), "ldd", "/usr/bin/busybox"], capture=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if not lib.startswith("/"):
            continue
        # resolve symlinks inside the slim rootfs, not on the host
        real = run(["chroot", str(slim), "readlink", "-f", lib], capture=True).stdout.strip()
        dst = root / lib.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(slim / real.lstrip("/"), dst)
    applets = run(["chroot", str(slim), "/usr/bin/busybox", "--list"], capture=True).stdout.split()
    for a in applets:
        if a not in ("busybox", "wget"):  # wget: the wrapper from overlay "wget"
            symlink(root, f"/bin/{a}", "busybox")
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "bin:x:2:2:bin:/bin:/bin/false\nsys:x:3:3:sys:/dev:/bin/false\n"
        "sync:x:4:100:sync:/bin:/bin/sync\nmail:x:8:8:mail:/var/spool/mail:/bin/false\n"
        "www-data:x:33:33:www-data:/var/www:/bin/false\noperator:x:37:37:Operator:/var:/bin/false\n"
        "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    )
    (root / "etc/group").write_text(
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\nwheel:x:10:root\n"
        "mail:x:8:\nwww-data:x:33:\noperator:x:37:\nstaff:x:50:\nusers:x:100:\nnogroup:x:65534:\n"
    )
    (root / "etc/shadow").write_text(
        "".join(
            f"{u}:*::::::\n"
            for u in [
                "root",
                "daemon",
                "bin",
                "sys",
                "sync",
                "mail",
                "www-data",
                "operator",
                "nobody",
            ]
        )
    )
    os.chmod(root / "etc/shadow", 0o640)
    (root / "etc/nsswitch.conf").write_text(NSSWITCH)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    (root / "etc/hostname").write_text("")
    (root / "etc/resolv.conf").write_text("")
    (root / "etc/gai.conf").write_text(GAI_CONF)
