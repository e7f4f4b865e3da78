"""Give large freed allocations back to the operating system (glibc only; elsewhere a no-op).

Every argon2id hash or verification allocates its 19 MiB work area, in whichever thread of the password
pool runs it. glibc's default raises its mmap threshold after the first such block is freed, so later ones
come from that thread's heap arena and stay resident: a server that has checked one password holds ~19 MiB
per pool thread for the rest of its life. A fixed threshold (which also switches off the adjustment) keeps
every block at or above it in its own mapping, returned when freed. Python's own objects are far smaller
and are unaffected.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: Allocations of at least this many bytes get their own mapping (glibc's default starts at 128 KiB and
#: climbs to 32 MiB; 1 MiB keeps ordinary buffers on the heap and every argon2 work area off it).
MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # glibc <malloc.h>


def return_large_blocks_to_the_os(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Set glibc's mmap threshold; True when it took effect. Call before the password pool starts."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
