from flow import Graph, In, Node, Out, Session, SessionStatistics, TextDelta
from flow.server.metrics import render
from flow.server.sessions import graph_view


class Src(Node):
    out: Out[TextDelta]

    async def run(self) -> None:
        await self.out.send(TextDelta(text="x"))


class Snk(Node):
    text: In[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        pass


def stats() -> SessionStatistics:
    g = Graph.build('we"ird\nname', {"src": (Src, {}), "snk": (Snk, {})},
                    ["src.out -> snk.text"])
    return Session(g, id="s1").statistics()


def test_render_groups_families_and_escapes_labels() -> None:
    text = render([stats()], open_sessions=1, opened=3, rejected={"full": 2},
                  closed={"idle": 1, "connection closed": 1})
    lines = text.splitlines()
    assert text.endswith("\n")
    assert "microturn_sessions_open 1" in lines
    assert 'microturn_offers_rejected_total{reason="full"} 2' in lines
    assert 'microturn_sessions_closed_total{reason="connection closed"} 1' in lines
    assert 'microturn_session_media_seconds{session="s1",graph="we\\"ird\\nname"} 0' in lines
    assert ('microturn_edge_depth{session="s1",graph="we\\"ird\\nname",'
            'edge="src.out -> snk.text",policy="block"} 0') in lines
    families = [ln.split()[2] for ln in lines if ln.startswith("# TYPE")]
    assert len(families) == len(set(families))
    current = None  # every sample follows its own family's HELP/TYPE: families are contiguous
    for ln in lines:
        if ln.startswith("# TYPE"):
            current = ln.split()[2]
        elif not ln.startswith("#"):
            assert ln.split("{")[0].split()[0] == current


def test_graph_view_from_statistics() -> None:
    view = graph_view(stats())
    assert view.name == 'we"ird\nname' and [n.id for n in view.nodes] == ["src", "snk"]
    (edge,) = view.edges
    assert (edge.name, edge.policy, edge.depth, edge.capacity) == \
           ("src.out -> snk.text", "block", 0, 16)
