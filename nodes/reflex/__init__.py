"""The reflex front end: a deterministic, offline policy that listens every micro-turn and
runs skills (currency, count, stopwatch, timer) or delegates to the back end."""
