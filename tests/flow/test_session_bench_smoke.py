"""bench/engine.py still runs and prints one JSON line with the fields the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"
FIELDS = ["throughput_msgs_per_s", "latency_p50_us", "latency_p99_us", "cadence_latency_p50_us",
          "cadence_added_jitter_p99_us", "no_yield_peak_rss_mb", "no_yield_max_queued",
          "no_yield_producer_held_back"]


@pytest.mark.slow
def test_engine_bench_prints_one_json_line() -> None:
    """Real time: the bench runs a real session on RealClock (0.3 s of cadence mode)."""
    proc = subprocess.run([sys.executable, str(BENCH), "--k", "3", "--n", "300",
                           "--seconds", "0.3"], capture_output=True, text=True, timeout=120,
                          check=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert all(out[f] is not None for f in FIELDS), out
    assert out["throughput_msgs_per_s"] > 0 and out["no_yield_producer_held_back"] is True
    assert out["no_yield_backlog_at_push_end"] <= 4 * 16  # bounded by the edges
