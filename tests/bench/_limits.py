"""The open-file limit: every connection is a file descriptor, so 10,000 sessions need more than
the usual soft limit (1,024). Raised to the hard limit in the engine process and in every
client process (each raises its own: a limit is per process)."""

from __future__ import annotations

import resource
from pathlib import Path

#: Descriptors a process needs besides its connections (Python, its imports, pipes, the loop).
SPARE_FDS = 200


def raise_nofile() -> int:
    """Raise this process's soft limit on open files to its hard limit; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # e.g. an infinite hard limit the kernel caps lower: keep what we have
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def too_low(limit: int, connections: int) -> bool:
    return limit != resource.RLIM_INFINITY and limit < connections + SPARE_FDS


def somaxconn() -> int | None:
    """The kernel's cap on any listen backlog (Linux), or None where it cannot be read."""
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return None
