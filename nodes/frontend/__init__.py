"""The front end: a model stepped every micro-turn over a persistent streaming session.

``node`` (the ``frontend`` node type) and ``models`` (the pluggable model slot) import no
torch; ``streaming_session``, ``kv_cache`` and ``stepper`` do, and are imported lazily by
the torch model adapter.
"""
