"""Move this process into a fresh network namespace that has only loopback, so that
WebRTC tests provably send nothing beyond 127.0.0.1 (Linux, root; CI runs as root).

``enter_loopback_namespace()`` calls ``unshare(CLONE_NEWNET)`` for the calling thread (the
event loop's, so every socket the test opens afterwards lives there; threads and child
processes started afterwards inherit it) and brings ``lo`` up. It cannot be undone: call
it only in a process whose remaining work needs nothing but loopback (a test process).
Returns False, changing nothing, where it is not possible (not root, no unshare).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess

CLONE_NEWNET = 0x40000000
_entered = False


def in_loopback_namespace() -> bool:
    return _entered


def enter_loopback_namespace() -> bool:
    global _entered
    if _entered:
        return True
    if os.geteuid() != 0 or not os.path.exists("/proc/self/ns/net"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    _entered = True
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        # No `ip` tool: bring lo up through ioctl(SIOCSIFFLAGS).
        import fcntl
        import socket
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifreq = struct.pack("16sH14x", b"lo", 0x1 | 0x8 | 0x40)  # UP|LOOPBACK|RUNNING
            fcntl.ioctl(s.fileno(), 0x8914, ifreq)
    return True


def interfaces() -> list[str]:
    """Network interfaces of the calling thread's namespace (not /sys, which shows the
    namespace it was mounted in)."""
    import socket

    return sorted(name for _, name in socket.if_nameindex())
