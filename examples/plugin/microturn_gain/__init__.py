"""An example microturn plugin: ``gain.scale`` makes audio louder or quieter."""

from .node import Gain

__all__ = ["Gain"]
