"""The back end: delegated questions answered by tools or an OpenAI-compatible model."""
