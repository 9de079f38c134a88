"""microturn's built-in nodes. Each is registered through the ``microturn.nodes`` entry
points, like any third-party plugin; the engine (``flow``) never imports this package."""
