"""`hermetic fmt` (in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("fmt", help="(in progress)")
    p.set_defaults(func=lambda args: 2)
