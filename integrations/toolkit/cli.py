"""The command line every integration offers: ``python -m <package>.<integration> <verb> ...``.

Verbs: ``train`` and ``eval`` everywhere, ``compress`` / ``decompress`` for the codecs (plus their
own, e.g. ``info``). An integration writes ``build_parser()`` (one sub-parser per verb, see
:func:`new_parser`) and one handler per verb, and calls :func:`run`. Errors (missing files,
foreign or damaged inputs, bad settings) print one ``error: ...`` line on stderr and exit with 2.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence

__all__ = ["new_parser", "run", "command_line", "add_device", "add_force"]

Handler = Callable[[argparse.Namespace], None]


def new_parser(package: str, description: str) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The top-level parser of ``python -m package`` and its verb sub-parsers."""
    parser = argparse.ArgumentParser(prog=f"python -m {package}", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser, parser.add_subparsers(dest="command", required=True)


def add_device(p: argparse.ArgumentParser, default: str = "cpu") -> None:
    p.add_argument("--device", default=default, help=f"torch device: cpu, cuda, cuda:1, auto (default {default})")


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")


def command_line(package: str, argv: Sequence[str]) -> str:
    """The command that reproduces this run (stored in checkpoints)."""
    return f"python -m {package} " + " ".join(shlex.quote(a) for a in argv)


def run(parser: argparse.ArgumentParser, handlers: dict[str, Handler], argv: Sequence[str] | None = None,
        errors: tuple[type[BaseException], ...] = (ValueError, OSError, RuntimeError)) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), call the verb's handler; 0 on success, 2 on one
    of ``errors`` (printed as ``error: ...``). ``args.argv`` holds the arguments as given."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        handlers[args.command](args)
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
