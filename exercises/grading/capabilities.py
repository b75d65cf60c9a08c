"""Linux capabilities: the names the engine knows, the ones Docker grants by default, and
the ones the sandbox grants (the defaults without NET_RAW: raw sockets could spoof ARP or ICMP
on the job network). `cap_add` of anything else is ignored with a note, never granted."""

from __future__ import annotations

# The names the engine knows (a name it does not know fails container creation).
CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
        "ALL",
    }
)
# What Docker gives every container (`cap_drop: [ALL]` then adding a few of these back is
# hardening, not escalation).
DEFAULT_CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    }
)
FORCED_CAP_DROP = "NET_RAW"  # always dropped, whatever the learner adds back
GRANTABLE = DEFAULT_CAPABILITIES - {FORCED_CAP_DROP}


def cap_name(value: object) -> str:
    """`cap_sys_admin`, ` CAP_SYS_ADMIN`, `SYS_ADMIN` -> SYS_ADMIN."""
    return str(value).strip().upper().removeprefix("CAP_")


def is_capability(name: object, allowed: frozenset[str]) -> bool:
    return cap_name(name) in allowed
