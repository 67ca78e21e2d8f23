"""What the package's commands share: their argument parser and how a bad input ends them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def command_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser for `python -m MODULE` whose help is the module's docstring, layout kept."""
    return argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def exit_status(body: Callable[[], object]) -> int:
    """Runs a command's work: 0 when it finishes, 2 with one line on stderr when an input is
    missing or unusable (ValueError includes CheckpointError), never a traceback."""
    try:
        body()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
