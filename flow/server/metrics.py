"""``/metrics``: the server's counters and every session's engine statistics in the
Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

from collections.abc import Iterable

from ..session import SessionStatistics
from ..units import S

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(**kw: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in kw.items()) + "}"


class _Writer:
    """Collects samples by family: the format wants each family's lines together."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[str]]] = {}

    def metric(self, name: str, kind: str, help: str, value: float,
               labels: dict[str, str] | None = None) -> None:
        fam = self.families.setdefault(name, (kind, help, []))
        lab = _labels(**labels) if labels else ""
        text = f"{value:g}" if isinstance(value, float) else str(value)
        fam[2].append(f"{name}{lab} {text}")

    def text(self) -> str:
        lines: list[str] = []
        for name, (kind, help, samples) in self.families.items():
            lines += [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def render(sessions: Iterable[SessionStatistics], *, open_sessions: int, opened: int,
           rejected: dict[str, int], closed: dict[str, int]) -> str:
    w = _Writer()
    w.metric("microturn_sessions_open", "gauge", "Sessions running now.", open_sessions)
    w.metric("microturn_sessions_opened_total", "counter", "Sessions started.", opened)
    for reason, count in sorted(rejected.items()):
        w.metric("microturn_offers_rejected_total", "counter",
                 "Offers refused, by reason.", count, {"reason": reason})
    for reason, count in sorted(closed.items()):
        w.metric("microturn_sessions_closed_total", "counter",
                 "Sessions ended, by reason.", count, {"reason": reason})
    for st in sessions:
        base = {"session": st.session, "graph": st.graph}
        w.metric("microturn_session_media_seconds", "gauge", "Media time of the session.",
                 st.media_time / S, base)
        for e in st.edges:
            lab = {**base, "edge": e.name, "policy": e.policy}
            w.metric("microturn_edge_carried_total", "counter", "Messages an edge delivered.",
                     e.carried, lab)
            w.metric("microturn_edge_dropped_total", "counter",
                     "Messages an edge dropped by its policy.", e.dropped, lab)
            w.metric("microturn_edge_flushed_total", "counter",
                     "Messages an edge cleared on interrupts.", e.flushed, lab)
            w.metric("microturn_edge_depth", "gauge", "Messages queued on an edge now.",
                     e.depth, lab)
            w.metric("microturn_edge_peak_depth", "gauge", "Most messages ever queued.",
                     e.peak_depth, lab)
            w.metric("microturn_edge_wait_max_seconds", "gauge",
                     "Longest time a message waited on an edge.", e.wait_max / S, lab)
            w.metric("microturn_edge_blocked_seconds_total", "counter",
                     "Time producers were held back by a full edge.", e.blocked_total / S, lab)
        for n in st.nodes:
            lab = {**base, "node": n.id, "type": n.type}
            w.metric("microturn_node_received_total", "counter", "Messages a node handled.",
                     n.received, lab)
            w.metric("microturn_node_sent_total", "counter", "Messages a node sent.",
                     n.sent, lab)
            w.metric("microturn_node_interrupts_total", "counter",
                     "Interrupts that reached a node.", n.interrupts, lab)
    return w.text()
