"""``/metrics``: the server's counters and every session's engine statistics in the
Prometheus text exposition format (version 0.0.4).

Two views: per live session (``microturn_edge_*``, ``microturn_node_*``, labelled with the
session id: a dashboard of what runs now), and per graph over every session the server
ran, ended ones included (``microturn_graph_*``, labelled by edge or node only, so their
number stays bounded however many sessions come and go: what an operator alerts on, e.g.
``rate(microturn_graph_edge_dropped_total[5m])``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..graph import Graph
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


EDGE_TOTALS = ("carried", "dropped", "flushed", "blocked_total")
NODE_TOTALS = ("received", "sent", "interrupts")


@dataclass
class Totals:
    """Counters summed over sessions: those that ended are added once, when they end."""

    edges: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # edge, policy, what
    nodes: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # node, type, what
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # node, type
    audio: Counter[str] = field(default_factory=Counter)  # frames, late_frames, underruns

    @classmethod
    def of(cls, graph: Graph) -> Totals:
        """Zero for every edge and node of ``graph``: a series that appears only at its
        first increase is one that ``increase()`` and ``rate()`` never see rise."""
        t = cls()
        for e in graph.edges:
            for what in EDGE_TOTALS:
                t.edges[(str(e), e.policy.value, what)] = 0
        for d in graph.nodes.values():
            for what in NODE_TOTALS:
                t.nodes[(d.id, d.type_name, what)] = 0
            t.failures[(d.id, d.type_name)] = 0
        for what in ("frames", "late_frames", "underruns"):
            t.audio[what] = 0
        return t

    def add(self, st: SessionStatistics) -> None:
        for e in st.edges:
            for what in EDGE_TOTALS:
                self.edges[(e.name, e.policy, what)] += getattr(e, what)
        for n in st.nodes:
            for what in NODE_TOTALS:
                self.nodes[(n.id, n.type, what)] += getattr(n, what)

    def plus(self, sessions: Iterable[SessionStatistics]) -> Totals:
        """These totals with the live sessions' counters so far added (a copy)."""
        out = Totals(Counter(self.edges), Counter(self.nodes), Counter(self.failures),
                     Counter(self.audio))
        for st in sessions:
            out.add(st)
        return out


#: the reasons an offer is refused and a session closes, counted from 0 (see above)
REFUSALS = ("bad_json", "bad_offer", "full", "server_error", "timeout", "too_big",
            "unauthorized")
CLOSINGS = ("connection closed", "connection failed", "graph ended", "hangup", "idle",
            "never connected", "node failed", "shutdown")


def render(sessions: Iterable[SessionStatistics], *, open_sessions: int, opened: int,
           rejected: dict[str, int], closed: dict[str, int], graph: str = "",
           totals: Totals | None = None) -> str:
    """``totals``: the graph's counters over every session, live ones included."""
    w = _Writer()
    w.metric("microturn_sessions_open", "gauge", "Sessions running now.", open_sessions)
    w.metric("microturn_sessions_opened_total", "counter", "Sessions started.", opened)
    rejected = {**dict.fromkeys(REFUSALS, 0), **rejected}
    closed = {**dict.fromkeys(CLOSINGS, 0), **closed}
    for reason, count in sorted(rejected.items()):
        w.metric("microturn_offers_rejected_total", "counter",
                 "Offers refused, by reason.", count, {"reason": reason})
    for reason, count in sorted(closed.items()):
        w.metric("microturn_sessions_closed_total", "counter",
                 "Sessions ended, by reason.", count, {"reason": reason})
    if totals is not None:
        _graph_totals(w, graph, totals)
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


def _graph_totals(w: _Writer, graph: str, t: Totals) -> None:
    helps = {"carried": "Messages an edge delivered, over every session.",
             "dropped": "Messages an edge dropped by its policy, over every session.",
             "flushed": "Messages an edge cleared on interrupts, over every session.",
             "blocked_total": "Time producers were held back by a full edge, over every "
                              "session."}
    for (edge, policy, what), value in sorted(t.edges.items()):
        name = ("microturn_graph_edge_blocked_seconds_total" if what == "blocked_total"
                else f"microturn_graph_edge_{what}_total")
        w.metric(name, "counter", helps[what],
                 value / S if what == "blocked_total" else value,
                 {"graph": graph, "edge": edge, "policy": policy})
    for (node, type_, what), value in sorted(t.nodes.items()):
        w.metric(f"microturn_graph_node_{what}_total", "counter",
                 f"Messages a node {'handled' if what == 'received' else what}, over every "
                 "session." if what != "interrupts" else
                 "Interrupts that reached a node, over every session.",
                 value, {"graph": graph, "node": node, "type": type_})
    for (node, type_), value in sorted(t.failures.items()):
        w.metric("microturn_graph_node_failures_total", "counter",
                 "Sessions a node's failure ended.", value,
                 {"graph": graph, "node": node, "type": type_})
    audio = {"frames": "Reply audio frames sent to clients.",
             "late_frames": "Reply audio frames sent later than their time.",
             "underruns": "Times the reply audio ran dry while it was due."}
    for what, help in audio.items():
        w.metric(f"microturn_audio_{what}_total", "counter", help,
                 t.audio[what], {"graph": graph})
