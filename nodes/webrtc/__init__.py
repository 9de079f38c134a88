"""WebRTC sources and sinks: a graph written for files runs in the browser by swapping its
source and sink nodes for these. Each reads the session's ``services["webrtc"]`` (a
``flow.server.peer.Peer``, set by ``microturn serve``)."""
