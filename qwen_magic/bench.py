"""The benchmark behind `qwen-magic bench` (being written)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    raise SystemExit("bench: not written yet")
