"""PartFile: written under a hidden name beside the final one, then renamed onto it, or
removed with the folders it created."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nodes.part_file import PartFile


def test_the_file_appears_under_its_name_only_when_committed(tmp_path: Path) -> None:
    path = tmp_path / "o.wav"
    path.write_bytes(b"old")
    out = PartFile(str(path))
    out.file.write(b"new")
    (part,) = tmp_path.glob(".o.wav.*.part")
    assert path.read_bytes() == b"old"
    out.commit()
    assert path.read_bytes() == b"new" and not part.exists()


def test_discarding_leaves_what_was_there_and_removes_the_folders_it_made(
        tmp_path: Path) -> None:
    (tmp_path / "old.wav").write_bytes(b"old")
    PartFile(str(tmp_path / "old.wav")).discard()
    PartFile(str(tmp_path / "a" / "b" / "o.wav")).discard()
    assert [p.name for p in tmp_path.iterdir()] == ["old.wav"]
    assert (tmp_path / "old.wav").read_bytes() == b"old"


def test_a_folder_that_something_else_wrote_into_meanwhile_stays(tmp_path: Path) -> None:
    out = PartFile(str(tmp_path / "a" / "o.wav"))
    (tmp_path / "a" / "other.wav").write_bytes(b"")
    out.discard()
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["other.wav"]


def test_a_rename_that_fails_keeps_what_was_written(tmp_path: Path) -> None:
    out = PartFile(str(tmp_path / "o.wav"))
    out.file.write(b"an hour of audio")
    (tmp_path / "o.wav").mkdir()  # in the way, as a file a player holds is on Windows
    (tmp_path / "o.wav" / "x").write_bytes(b"")
    with pytest.raises(OSError) as info:
        out.commit()
    (part,) = tmp_path.glob(".o.wav.*.part")
    assert part.name in str(info.value) and part.read_bytes() == b"an hour of audio"


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "o.wav").write_bytes(b"old")
    (tmp_path / "link.wav").symlink_to(tmp_path / "real" / "o.wav")
    out = PartFile(str(tmp_path / "link.wav"))
    out.file.write(b"new")
    out.commit()
    assert (tmp_path / "link.wav").is_symlink()
    assert (tmp_path / "real" / "o.wav").read_bytes() == b"new"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_special_file_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    """As ``path: /dev/null`` would be (a FIFO here, so that a bug cannot replace the
    machine's /dev/null)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        out = PartFile(str(fifo))
        out.file.write(b"x")
        out.commit()
        assert os.read(reader, 8) == b"x"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and os.listdir(tmp_path) == ["fifo"]
