"""A subcommand that logs at every level, to test how the CLI shows log records."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("microturn.test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> None:
    log.debug("the debug")
    log.info("the info")
    log.warning("the warning")
    log.error("the error")
