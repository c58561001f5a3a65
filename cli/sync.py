"""`hermetic sync` (in progress)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sync", help="(in progress)")
    p.set_defaults(func=lambda args: 2)
