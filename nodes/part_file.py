"""An output file that appears whole or not at all.

It is written under a hidden name beside its final one, ``.NAME.<8 hex>.part``, then
renamed onto it (``os.replace``: atomic within a file system, and the hidden file is in the
same folder). So nobody (a player, the next step of a pipeline) sees a half-written file
under the final name, and a run that never produced anything leaves what an earlier run
wrote there as it was. Only a process killed outright (SIGKILL, a power cut), or a rename
that failed, leaves the hidden file behind.

A symlink is written through, as ``open()`` would: the file it points to is replaced. A
path that exists and is not a regular file (``/dev/null``, a FIFO) is written in place: it
cannot be renamed onto, and must not be replaced.
"""

from __future__ import annotations

import os
import secrets
import stat
from typing import BinaryIO


class PartFile:
    """``file`` to write (binary, seekable when a regular file), then ``commit()`` or
    ``discard()``, once. Opening creates the missing folders; ``discard()`` removes those
    again when they are left empty. Raises ``OSError`` when the file cannot be created."""

    def __init__(self, path: str) -> None:
        self._target = os.path.realpath(path)
        folder = os.path.dirname(self._target)
        self._made = _missing_top(folder)
        self._part: str | None = None
        file: BinaryIO | None = None
        try:
            os.makedirs(folder, exist_ok=True)
            if _special(self._target):
                file = open(self._target, "wb")
            else:
                part = os.path.join(
                    folder, f".{os.path.basename(self._target)}.{secrets.token_hex(4)}.part")
                file = open(part, "xb")  # never onto something there; mode as open() gives
                self._part = part
                _copy_mode(self._target, part)  # a private recording stays private
        except BaseException:
            if file is not None:
                file.close()
            self._remove()
            raise
        self.file: BinaryIO = file

    def commit(self) -> None:
        """Close the file and move it onto its final name. If that fails (Windows, while a
        player holds the old file), the ``OSError`` names both paths and the hidden file
        stays: what was written is not lost for want of a rename."""
        self.file.close()
        part, self._part, self._made = self._part, None, None
        if part is not None:
            os.replace(part, self._target)

    def discard(self) -> None:
        """Close the file and remove it, and the folders opening it created if they are
        empty now: what was at the path before stays as it was. (A special file, written in
        place, is only closed.)"""
        self.file.close()
        self._remove()

    def _remove(self) -> None:
        part, self._part = self._part, None
        if part is not None:
            _unlink(part)
        made, self._made = self._made, None
        folder = os.path.dirname(self._target)
        while made is not None:
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass  # makedirs failed below it
            except OSError:
                return  # not empty: something else was written there meanwhile
            if folder == made:
                return
            folder = os.path.dirname(folder)


def _missing_top(folder: str) -> str | None:
    """The topmost of ``folder`` and its parents that does not exist, or None."""
    top = None
    while not os.path.isdir(folder):
        top, parent = folder, os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return top


def _special(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _copy_mode(src: str, dst: str) -> None:
    try:
        mode = stat.S_IMODE(os.stat(src).st_mode)
    except FileNotFoundError:
        return
    os.chmod(dst, mode)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
