"""``microturn init``: microturn's graphs and their samples, copied into a folder where they
run as in the repository; and the wheel, which must carry them (nodes/starter links them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from flow.cli import main
from flow.loader import load_graph
from flow.testing import run_graph
from nodes.starter import HERE
from nodes.starter.init_command import starter_files

ROOT = Path(__file__).parents[2]


def test_the_starter_is_the_repositorys_graphs_and_every_sample_they_read():
    copied = {str(rel) for _, rel in starter_files()}
    graphs = {f"graphs/{p.name}" for p in (ROOT / "graphs").glob("*.yaml")}
    media = {f"examples/media/{p.name}" for p in (ROOT / "examples" / "media").glob("*.wav")}
    assert copied == graphs | media | {"examples/hello.txt"}


def test_init_lays_out_a_folder_where_the_graphs_run(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "my-assistant"
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"copied {len(starter_files())} files into {folder}")
    assert f"cd {folder} && microturn run graphs/assistant.yaml" in out
    monkeypatch.chdir(folder)
    assert main(["check", *sorted(str(p) for p in Path("graphs").glob("*.yaml"))]) == 0
    # the echo graph reads its sample where the repository has it, and gives it back
    graph = load_graph("graphs/echo.yaml", overrides=["out.path=out/echo.wav"])
    run_graph(graph, {})  # raises if a node failed
    with av.open("out/echo.wav") as f:
        echoed = np.concatenate([fr.to_ndarray().ravel() for fr in f.decode(audio=0)])
    with av.open("examples/media/hello.wav") as f:
        heard = np.concatenate([fr.to_ndarray().ravel() for fr in f.decode(audio=0)])
    assert len(echoed) >= len(heard) and np.array_equal(echoed[:len(heard)], heard)


def test_init_leaves_a_users_files_alone_unless_forced(tmp_path, capsys):
    (tmp_path / "graphs").mkdir()
    mine = tmp_path / "graphs" / "say.yaml"
    mine.write_text("graph: mine\n")
    assert main(["init", str(tmp_path)]) == 2
    assert "already has graphs/say.yaml: nothing copied (--force overwrites)" in \
        capsys.readouterr().err
    assert mine.read_text() == "graph: mine\n" and not (tmp_path / "examples").exists()
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert mine.read_bytes() == (HERE / "graphs" / "say.yaml").read_bytes()
    (tmp_path / "file").write_text("")
    assert main(["init", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_the_wheel_carries_the_graphs_samples_and_phone_network(tmp_path):
    """Slow: builds the wheel (a few seconds on two cores), which no other test does."""
    had_build = (ROOT / "build").exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
                       check=True, capture_output=True, timeout=300)
    finally:
        if not had_build:  # setuptools builds in the checkout: leave it as it was
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("microturn-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for src, rel in starter_files():
            inside = f"nodes/starter/{src.relative_to(HERE)}"
            assert z.read(inside) == (ROOT / rel).read_bytes(), inside
        entry_points = next(z.read(n).decode() for n in names
                            if n.endswith(".dist-info/entry_points.txt"))
        # the ears' phone network, which graphs/assistant.yaml hears with
        assert (z.read("nodes/asr/models/phonenet.npz")
                == (ROOT / "nodes/asr/models/phonenet.npz").read_bytes())
    assert not [n for n in names if n.startswith("nodes/starter/") and n.endswith(".py")
                and n.count("/") > 2]  # its folders are data, no modules
    assert "[microturn.graphs]\nmicroturn = nodes.starter:graphs\n" in entry_points
    assert "init = nodes.starter.init_command" in entry_points
