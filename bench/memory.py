"""Resident memory of processes, from Linux's /proc (no extra package needed).

`VmHWM` is the kernel's own high-water mark of a process's resident set, so a peak is read
once after the load instead of sampled during it (sampling would miss short spikes).
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB; 0 if it is gone."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
