import os
import socket

import pytest

from flow.server import netns


def test_tests_here_see_only_loopback(loopback_only: bool) -> None:
    if os.geteuid() != 0:
        pytest.fail("run as root (as CI does): the WebRTC tests belong in a loopback-only "
                    "network namespace")
    assert loopback_only and netns.interfaces() == ["lo"]


def test_namespace_is_left_on_exit() -> None:
    outer = os.readlink("/proc/thread-self/ns/net")
    with netns.loopback_namespace() as entered:
        assert entered
        inner = os.readlink("/proc/thread-self/ns/net")
        assert inner != outer and netns.interfaces() == ["lo"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))  # loopback is up
    assert os.readlink("/proc/thread-self/ns/net") == outer
