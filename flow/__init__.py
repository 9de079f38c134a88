"""microturn's engine: typed async nodes, bounded edges, YAML graphs, injected clocks."""

from .clock import Clock, FakeClock, FakeClockDeadlock, RealClock
from .context import SessionContext
from .edge import Edge, EdgeStatistics, Policy
from .errors import (
    EndOfInput,
    FlowError,
    GraphError,
    MissingDependency,
    NodeDefinitionError,
    NodeFailed,
    ParamError,
    SessionClosed,
)
from .graph import EdgeDecl, Graph, NodeDecl
from .messages import (
    AudioFrame,
    Control,
    EndOfStream,
    Event,
    Interrupt,
    Message,
    TextDelta,
    VideoFrame,
)
from .node import Node, NodeStatistics, NoParams
from .ports import In, Out
from .registry import Registry, default_registry
from .session import Session, SessionStatistics
from .ticker import Tick, Ticker
from .units import MS, NS, US, S, format_duration, parse_duration

__all__ = [
    "MS",
    "NS",
    "US",
    "AudioFrame",
    "Clock",
    "Control",
    "Edge",
    "EdgeDecl",
    "EdgeStatistics",
    "EndOfInput",
    "EndOfStream",
    "Event",
    "FakeClock",
    "FakeClockDeadlock",
    "FlowError",
    "Graph",
    "GraphError",
    "In",
    "Interrupt",
    "Message",
    "MissingDependency",
    "NoParams",
    "Node",
    "NodeDecl",
    "NodeDefinitionError",
    "NodeFailed",
    "NodeStatistics",
    "Out",
    "ParamError",
    "Policy",
    "RealClock",
    "Registry",
    "S",
    "Session",
    "SessionClosed",
    "SessionContext",
    "SessionStatistics",
    "TextDelta",
    "Tick",
    "Ticker",
    "VideoFrame",
    "default_registry",
    "format_duration",
    "parse_duration",
]
