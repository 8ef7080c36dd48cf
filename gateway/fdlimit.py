"""Raising the open-file limit at start, so a worker's thousands of connections fit.

Every request in flight holds two sockets (the client's and the upstream's), so a worker
with ``max_in_flight`` 6,000 needs over 12,000 descriptors, where many systems start a
process with a soft limit of 1,024. ``tiergate serve`` raises the soft limit to what the
settings need (at most the hard limit, or beyond it where the process may raise that too,
as root) before uvicorn starts its workers, which inherit it.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

#: Descriptors beyond two per request in flight: Redis pools, the listening socket, logs.
BASE_DESCRIPTORS = 1024


def descriptors_needed(max_in_flight: int) -> int:
    return 2 * max_in_flight + BASE_DESCRIPTORS


@dataclass(frozen=True, slots=True)
class FdLimit:
    before: int
    after: int
    needed: int

    @property
    def enough(self) -> bool:
        return self.after >= self.needed


def raise_open_file_limit(needed: int) -> FdLimit:
    """Raise RLIMIT_NOFILE's soft limit to ``needed`` (never lowers it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return FdLimit(soft, soft, needed)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # only a privileged process may raise its hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return FdLimit(soft, needed, needed)
        except (ValueError, OSError):
            target = hard
    else:
        target = needed
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return FdLimit(soft, target, needed)
