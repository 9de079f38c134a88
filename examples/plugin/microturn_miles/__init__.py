"""An example skill for the reflex front end: ``distance`` says miles in kilometres."""

from .skill import Distance

__all__ = ["Distance"]
