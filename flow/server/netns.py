"""A network namespace that has only loopback, so that WebRTC tests provably send nothing
beyond 127.0.0.1 (Linux, root; CI runs as root).

``with loopback_namespace() as entered:`` moves the calling thread (the event loop's) into
a fresh namespace (``unshare(CLONE_NEWNET)``) with ``lo`` up, and back to where it was on
exit (``setns``). Sockets opened inside live there; threads and child processes started
from the thread inside (a server, Chromium) inherit it. Where it is not possible (not root,
no unshare), ``entered`` is False and nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import subprocess
import threading
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _lo_up() -> None:
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        # No `ip` tool: ioctl(SIOCSIFFLAGS) with IFF_UP | IFF_LOOPBACK | IFF_RUNNING.
        import fcntl
        import socket
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH14x", b"lo", 0x1 | 0x8 | 0x40))


@contextlib.contextmanager
def loopback_namespace() -> Iterator[bool]:
    own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
    if os.geteuid() != 0 or not os.path.exists(own):
        yield False
        return
    libc = _libc()
    original = os.open(own, os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            yield False
            return
        try:
            _lo_up()
            yield True
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"cannot return to the original network namespace: "
                                   f"{os.strerror(err)}")
    finally:
        os.close(original)


_held: contextlib.ExitStack | None = None


def enter_loopback_namespace() -> bool:
    """Enter a loopback-only namespace for the rest of this process (benchmarks)."""
    global _held
    if _held is not None:
        return True
    stack = contextlib.ExitStack()
    if not stack.enter_context(loopback_namespace()):
        stack.close()
        return False
    _held = stack
    return True


def interfaces() -> list[str]:
    """Network interfaces of the calling thread's namespace (not /sys, which shows the
    namespace it was mounted in)."""
    import socket

    return sorted(name for _, name in socket.if_nameindex())
