"""A subcommand module, to test that ``flow.cli.COMMANDS`` takes new entries (as the
server's ``serve`` does)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--times", type=int, default=1)


def run(args: argparse.Namespace) -> int:
    print(" ".join([f"hello {args.name}"] * args.times))
    return 7
