#!/usr/bin/env bash
# Runs Pipecat's peer baseline and bench/engine.py one right after the other, on the same
# machine, with the same arguments, and prints both JSON lines (Pipecat's first). A summary
# of the ratios goes to stderr. Examples:
#   bench/compare_pipecat.sh --k 8 --n 20000                # throughput and cadence
#   bench/compare_pipecat.sh --k 8 --n 20000 --no-yield --mode throughput
# Arguments: --k --n --mode --seconds --no-yield --uvloop (both scripts take them).
# PIPECAT_BASELINE overrides where the peer's runner is (default ../shared/bench/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
baseline=${PIPECAT_BASELINE:-$root/../shared/bench/pipecat-baseline}
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3

# Pipecat's InputAudioRawFrame is what a capture node emits: the fair counterpart of
# microturn's AudioFrame through pass-through nodes.
peer=$("$baseline" --frame-type input "$@")
ours=$("$py" "$here/engine.py" "$@")
echo "$peer"
echo "$ours"
"$py" - "$peer" "$ours" >&2 <<'PY'
import json, sys
peer, ours = (json.loads(a) for a in sys.argv[1:3])
rows = []
for r in peer["results"]:
    if r["mode"] == "throughput" and not r.get("no_yield"):
        rows.append(("throughput msgs/s", r["frames_per_s"], ours.get("throughput_msgs_per_s")))
        rows.append(("latency p50 us (under load)", r["latency"]["p50_us"], ours.get("latency_p50_us")))
    elif r["mode"] == "throughput":
        rows.append(("no-yield backlog at push end", r["backlog_at_push_end"], ours.get("no_yield_backlog_at_push_end")))
        rows.append(("no-yield latency p50 us", r["latency"]["p50_us"], ours.get("no_yield_latency_p50_us")))
        rows.append(("no-yield peak RSS MB", round(peer["ru_maxrss_kb"] / 1024, 1), ours.get("no_yield_peak_rss_mb")))
    else:
        rows.append(("cadence latency p50 us", r["latency"]["p50_us"], ours.get("cadence_latency_p50_us")))
        rows.append(("cadence added jitter p99 us", r["transit_jitter"]["p99_us"], ours.get("cadence_added_jitter_p99_us")))
print(f"{'':32} {'pipecat':>12} {'microturn':>12} {'ratio':>8}")
for name, p, o in rows:
    ratio = ""
    if isinstance(p, (int, float)) and isinstance(o, (int, float)) and p and o:
        ratio = f"{(o / p if 'msgs/s' in name else p / o):.1f}x"
    print(f"{name:32} {p!s:>12} {o!s:>12} {ratio:>8}")
PY
