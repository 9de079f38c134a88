"""``microturn serve``: the shipped echo graph, served from the command line, answers a
client and shuts down gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

from flow.loader import load_graph
from flow.server.client import Client
from flow.server.testing import echo_graph


def test_shipped_echo_graph_is_the_one_tests_build() -> None:
    shipped, built = load_graph("graphs/echo_webrtc.yaml"), echo_graph()
    assert shipped.name == built.name
    assert {k: (d.type_name, d.params) for k, d in shipped.nodes.items()} == \
           {k: (d.type_name, d.params) for k, d in built.nodes.items()}
    assert [(str(e), e.policy, e.max_time) for e in shipped.edges] == \
           [(str(e), e.policy, e.max_time) for e in built.edges]


async def test_serve_command_answers_then_shuts_down_gracefully() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow.cli", "serve", "graphs/echo_webrtc.yaml", "--port", "0",
        "--ice-host", "127.0.0.1", "--token", "t0k", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        m = re.match(r"serving echo_webrtc on (http://127\.0\.0\.1:\d+)/", line)
        assert m, line
        c = await Client.connect(m.group(1), token="t0k")
        await c.send_text("over the command line")
        assert (await c.wait_for("heard")).text == "over the command line"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        err = (await proc.stderr.read()).decode()
        assert "closed 1 session(s) at shutdown; 1 served in all" in err
        await c.wait_until(lambda: c.pc.connectionState == "closed", within=10)
        await c.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_serve_with_a_broken_graph_is_one_error_line(tmp_path: object) -> None:
    bad = os.path.join(str(tmp_path), "bad.yaml")
    with open(bad, "w") as f:
        f.write("graph: bad\nnodes:\n  mic: {use: webrtc.audio_inn}\nedges: []\n")
    r = subprocess.run([sys.executable, "-m", "flow.cli", "serve", bad, "--port", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "bad.yaml:3" in r.stderr and "webrtc.audio_in" in r.stderr
    assert "Traceback" not in r.stderr


def test_serving_a_graph_no_browser_can_talk_to_is_warned_of() -> None:
    from flow.loader import load_graph
    from flow.server.cli import no_browser

    graphs = os.path.join(os.path.dirname(__file__), "..", "..", "graphs")
    assert no_browser(load_graph(os.path.join(graphs, "echo_webrtc.yaml"))) is None
    warning = no_browser(load_graph(os.path.join(graphs, "echo.yaml")))
    assert warning is not None and warning.startswith("graph echo has no webrtc.* node")
