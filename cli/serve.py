"""`hermetic serve` (in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="(in progress)")
    p.set_defaults(func=lambda args: 2)
