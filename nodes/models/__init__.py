"""Reference models behind the built-in nodes' model slots (torch; import explicitly)."""
