"""The once-per-machine builds (the acoustic model adapted to espeak, the word
classifier), stopped by SIGTERM half-way: they leave nothing half-written in the cache.

Each build runs as its command line does (``python -m ...``), in a child process whose
slow part (the adaptation, the training) is replaced by one that writes its temporary
output, says so and waits; the test then sends SIGTERM, as a stopped ``make`` or a
cancelled CI job does."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

ACOUSTIC_MODEL = """
    from nodes.asr import adapt, espeak_model

    def slow_adapt(utterances, out, **_):
        (out / "means").write_bytes(b"half a model")
        print("writing", flush=True)
        time.sleep(60)

    adapt.adapt = slow_adapt
    espeak_model.command_line("build", "", lambda left: target, lambda p: p.exists(),
                              espeak_model.build)
"""

WORD_CLASSIFIER = """
    from nodes.asr import espeak_model, wordcheck_build

    def no_examples(job):  # the pool's workers are forked: they find it in __main__
        return []

    def slow_train(examples, out):
        out.write_bytes(b"half a network")
        print("writing", flush=True)
        time.sleep(60)

    wordcheck_build._examples = no_examples
    wordcheck_build.voices = lambda without: ["en-us"]
    espeak_model.ensure = lambda without: Path("unused")
    wordcheck_build.train = slow_train
    espeak_model.command_line("build", "", lambda left: target, Path.exists,
                              wordcheck_build.build)
"""


@pytest.mark.parametrize("build", [ACOUSTIC_MODEL, WORD_CLASSIFIER],
                         ids=["acoustic-model", "word-classifier"])
def test_a_build_stopped_by_sigterm_leaves_nothing_behind(tmp_path: Path, build: str) -> None:
    cache = tmp_path / "cache"
    script = ("import sys, time\nfrom pathlib import Path\n"
              f"target = Path({str(cache / 'built')!r})\n" + textwrap.dedent(build))
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "writing\n", child.stderr.read() if child.stderr else ""
        assert [p.name.startswith("built.") for p in files(cache)] == [True]
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        child.kill()
        child.communicate()
    assert files(cache) == []  # neither the temporary sibling nor a result


def files(cache: Path) -> list[Path]:
    """What a build left in the cache, but for its lock file (empty, kept for the next)."""
    return [p for p in cache.iterdir() if p.name != ".built.lock"]


def test_a_second_process_waits_for_the_build_and_finds_it_built(tmp_path: Path) -> None:
    """Two sessions (or `make ears-model` and a session) that need the same model at once:
    the second waits for the first's build instead of running the same ten minutes again."""
    import fcntl

    target = tmp_path / "built"
    script = ("from pathlib import Path\nfrom nodes.asr import espeak_model\n"
              f"target = Path({str(target)!r})\n"
              "def make(path, left):\n    raise SystemExit('built twice')\n"
              "espeak_model.command_line('build', '', lambda left: target, Path.exists, make)\n")
    with open(tmp_path / ".built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build is running
        child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert child.stderr is not None
            assert child.stderr.readline().startswith(
                "ears: waiting for another process that is building built")
            target.write_text("done")  # the first build finishes
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert out == f"{target}\n"
