"""Browser tests run in the same loopback-only network namespace as the server tests
(entered for this package, left again afterwards): Chromium can reach nothing but
127.0.0.1."""

from tests.server.conftest import loopback_only  # noqa: F401  (package-scoped, autouse)
