"""``microturn serve``: the shipped echo graph, served from the command line, answers a
client and shuts down gracefully on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys

import pytest

from flow.loader import load_graph
from flow.server.cli import add_arguments
from flow.server.client import Client
from flow.server.testing import echo_graph
from flow.units import MS


def test_shipped_echo_graph_is_the_one_tests_build() -> None:
    shipped, built = load_graph("graphs/echo_webrtc.yaml"), echo_graph()
    assert shipped.name == built.name
    assert {k: (d.type_name, d.params) for k, d in shipped.nodes.items()} == \
           {k: (d.type_name, d.params) for k, d in built.nodes.items()}
    assert [(str(e), e.policy, e.max_time) for e in shipped.edges] == \
           [(str(e), e.policy, e.max_time) for e in built.edges]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_serve_command_answers_then_shuts_down_gracefully(sig: signal.Signals) -> None:
    """SIGHUP (a closed terminal, a supervisor's reload) killed the server, its clients
    told nothing; it drains like SIGTERM."""
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
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        err = (await proc.stderr.read()).decode()
        assert "closed 1 session(s) at shutdown; 1 served in all" in err
        assert (await c.wait_for("error")).message == "session closed: shutdown"
        await c.wait_until(lambda: c.pc.connectionState == "closed", within=10)
        await c.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


HOLD = """
import asyncio
from flow import Node

class Hold(Node):
    async def run(self):
        await asyncio.Event().wait()

    async def teardown(self):  # a device that takes its time to close
        await asyncio.sleep(60)
"""


@pytest.mark.slow
async def test_a_second_signal_exits_without_waiting_for_the_drain(tmp_path) -> None:
    """The drain is bounded (a node's teardown has up to 10 s), but an operator who signals
    again does not want to wait it out: the second signal exits at once, as uvicorn's and
    most servers' do. A real server process and real signals: about 2 s."""
    (tmp_path / "hold_nodes_t.py").write_text(HOLD)
    graph = tmp_path / "hold.yaml"
    graph.write_text("nodes:\n  typed: {use: webrtc.text_in}\n  hold: {use: hold_nodes_t:Hold}\n"
                     "  events: {use: webrtc.events_out}\nedges: [typed.text -> events.events]\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flow.cli", "serve", str(graph), "--port", "0",
        "--ice-host", "127.0.0.1", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        c = await Client.connect(line.split(" on ")[1].strip().rstrip("/"), audio=False,
                                 listen=False)
        await c.send_text("hello")
        await c.wait_for("heard")
        proc.send_signal(signal.SIGTERM)
        assert (await c.wait_for("error")).message == "session closed: shutdown"
        await asyncio.sleep(0.5)
        assert proc.returncode is None  # draining: the node's teardown takes its time
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 1
        err = (await proc.stderr.read()).decode()
        assert "a second signal: exiting without waiting for the sessions" in err
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


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="microturn serve")
    add_arguments(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--port", "70000", "expected an integer from 0 to 65535, got 70000"),
    ("--port", "-1", "expected an integer from 0 to 65535, got -1"),
    ("--port", "http", "expected an integer from 0 to 65535, got 'http'"),
    ("--jitter-prefetch", "-1", "expected an integer from 0 to 15, got -1"),
    ("--jitter-prefetch", "16", "expected an integer from 0 to 15, got 16"),
    ("--max-body", "0", "expected an integer of at least 1, got 0"),
    ("--max-message", "0", "expected an integer of at least 1, got 0"),
    ("--max-sessions", "0", "expected an integer of at least 1, got 0"),
    ("--message-rate", "0", "expected a number above 0, got '0'"),
    ("--message-rate", "-5", "expected a number above 0, got '-5'"),
    ("--message-rate", "inf", "expected a number above 0, got 'inf'"),
    ("--message-rate", "nan", "expected a number above 0, got 'nan'"),
    ("--idle-timeout", "0s", "expected a duration above 0, got '0s'"),
    ("--connect-timeout", "0ms", "expected a duration above 0, got '0ms'"),
    ("--idle-timeout", "30", "expected a duration with a unit"),
])
def test_a_flag_out_of_range_is_refused_when_parsed(flag: str, value: str, says: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Each was accepted, and found out by the first client: a session that never hears
    (prefetch 16), refuses every message (rate 0), or closes at once (timeout 0), or a
    traceback (port 70000, prefetch -1)."""
    with pytest.raises(SystemExit) as exit_:
        parse(f"{flag}={value}")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {says}" in err, err


def test_flags_at_the_edges_of_their_range_are_accepted() -> None:
    args = parse("--port", "0", "--jitter-prefetch", "0", "--max-body", "1", "--max-message",
                 "1", "--max-sessions", "1", "--message-rate", "0.5", "--idle-timeout", "1ms",
                 "--connect-timeout", "1ms")
    assert (args.port, args.jitter_prefetch, args.max_body, args.max_message,
            args.max_sessions, args.message_rate, args.idle_timeout,
            args.connect_timeout) == (0, 0, 1, 1, 1, 0.5, 1 * MS, 1 * MS)
    assert (parse("--port", "65535").port, parse("--jitter-prefetch", "15").jitter_prefetch) \
        == (65535, 15)


def test_serve_refuses_a_bad_flag_with_exit_2_and_no_traceback() -> None:
    r = subprocess.run([sys.executable, "-m", "flow.cli", "serve", "graphs/echo_webrtc.yaml",
                        "--port", "70000"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "argument --port: expected an integer from 0 to 65535, got 70000" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_without_the_webrtc_extra_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A pip user without the webrtc extra got a traceback ending in ModuleNotFoundError."""
    import importlib.util

    from flow.cli import main

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aiortc" else find_spec(name, *a))
    assert main(["serve", "graphs/echo_webrtc.yaml", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 'aiortc' is not installed; install it with: pip install "
                          "'aiortc' (or microturn's 'webrtc' extra")
    assert "Traceback" not in err
