"""bench/fusion.py runs and prints one JSON line with the fields the issue compares."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "fusion.py"


def test_bench_prints_one_json_line() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--turns", "5", "--warmup", "1"],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["tokenizer_ms_per_turn"] > 0
    assert result["device"] == "cpu"
    # turn, audio marker + 16 frames, video marker + 48 patches, text marker + bytes,
    # output marker + 8 slots
    assert result["turn_length"] > 2 + 16 + 1 + 48 + 1 + 1 + 8
    for key in ("window_tokens", "step_ms_persistent_full", "tail_head_ratio",
                "memory_growth_5_to_30min_pct", "sessions_at_cadence_batched"):
        assert key in result
