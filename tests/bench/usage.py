"""A benchmark's command line refusing bad arguments: exit status 2, the reason on stderr."""

from __future__ import annotations

from collections.abc import Callable

import pytest


def assert_refused(main: Callable[[list[str]], int], argv: list[str], message: str,
                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
