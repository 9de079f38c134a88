"""Fixture graphs (YAML) and the node types they use (``nodes.registry()``)."""
