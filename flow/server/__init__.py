"""The WebRTC server: ``microturn serve GRAPH.yaml``.

``app`` (aiohttp routes), ``sessions`` (one graph session per peer connection, limits,
teardown), ``peer`` (what a session's ``webrtc.*`` nodes see), ``protocol`` (the
data-channel messages), ``ice`` (candidate and jitter-buffer settings), ``tracks`` and
``playout`` (real-time audio out), ``metrics`` (Prometheus text), ``cli`` (``microturn
serve``), ``client`` (a Python client for tests, benchmarks and scripts), ``testing``
(serve a graph inside a test) and ``netns`` (a loopback-only network namespace for tests).
Needs the ``webrtc`` extra (aiortc, aiohttp).
"""
