"""bench/interaction.py runs end to end and prints one JSON line with the fields the issue
compares (the figures themselves are not checked here: see bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "interaction.py"


@pytest.mark.slow
def test_bench_prints_one_json_line() -> None:
    """Real time by nature: the bench runs the assistant on the RealClock with the source
    paced in real time (reaction time must include recognition and synthesis). One clip
    per scenario, all six sessions at once (about 20 s of media), and a cadence search
    capped at one session."""
    run = subprocess.run([sys.executable, str(BENCH), "--n", "1", "--concurrency", "6",
                          "--cadence-max", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [ln for ln in run.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stdout[-2000:]
    r = json.loads(lines[0])
    for key in ("reaction_p50_ms", "reaction_p99_ms", "correct", "total",
                "bargein_stop_p50_ms", "sessions_at_cadence", "per_scenario", "held_out"):
        assert key in r, key
    assert r["total"] == 6
    assert 0 <= r["correct"] <= r["total"]
    assert set(r["per_scenario"]) == {"currency", "count", "stopwatch", "timer",
                                      "delegation", "bargein"}
    for row in r["per_scenario"].values():
        assert row["total"] == 1 and row["correct"] in (0, 1)
        p50 = row["reaction_p50_ms"]
        assert p50 is None or -5_000 < p50 < 60_000
    assert r["sessions_at_cadence"] in (0, 1)
    assert [t["sessions"] for t in r["cadence_trials"]] == [1]


def test_bench_runs_only_the_held_out_voices_when_asked() -> None:
    """``--voices held-out``: of 3 clips per scenario the third has a held-out voice; only
    those run (virtual clock, so quick), and the JSON line says which voices ran. ``tally``
    runs when asked for, though the full run leaves it out."""
    run = subprocess.run([sys.executable, str(BENCH), "--n", "3", "--clock", "fake",
                          "--scenarios", "stopwatch,timer,tally", "--voices", "held-out",
                          "--cadence-max", "0"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    r = json.loads(run.stdout)
    assert (r["voices"], r["total"]) == ("held-out", 3)
    assert r["held_out"]["total"] == 3 and r["dev"]["total"] == 0
    assert set(r["per_scenario"]) == {"stopwatch", "timer", "tally"}
    for row in r["per_scenario"].values():  # one held-out clip each: right or wrong
        lo, hi = row["held_out"]["accuracy_ci95"]
        assert (lo, hi) == ((0.0, 0.7935) if row["held_out"]["correct"] == 0 else (0.2065, 1.0))


@pytest.mark.parametrize(("k", "n", "interval"), [
    (0, 10, [0.0, 0.2775]), (10, 10, [0.7225, 1.0]),  # the textbook's edge cases
    (28, 33, [0.6908, 0.9335]), (94, 100, [0.8752, 0.9722]),
])
def test_accuracy_interval_is_wilsons(k: int, n: int, interval: list[float]) -> None:
    """Every accuracy in the JSON line carries its 95 % Wilson interval: 33 held-out clips
    per scenario pin an accuracy down to about +-12 points, 100 to about +-5."""
    sys.path.insert(0, str(BENCH.parents[1]))
    from bench.interaction import wilson

    assert wilson(k, n) == interval
    assert wilson(0, 0) is None
