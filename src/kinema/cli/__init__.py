"""The `kinema` command line.

Each command group lives in its own module with `add_parser(subparsers)` and a `run(args)`; the heavy imports (torch,
PyAV, the worlds) happen inside `run`, so `kinema --help` answers without loading them. Bad input ends in one line on
stderr ("kinema: error: ...") and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

# command group -> module under kinema.cli that defines it
GROUPS = ("worlds", "train", "generate", "eval", "bench", "play", "demo")


def build_parser() -> argparse.ArgumentParser:
    from kinema import __version__

    parser = argparse.ArgumentParser(
        prog="kinema",
        description="kinema: a Sora-style video world model you can train and run on a CPU.",
    )
    parser.add_argument("--version", action="version", version=f"kinema {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in GROUPS:
        importlib.import_module(f"kinema.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError) as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kinema: interrupted", file=sys.stderr)
        return 130


def parse_size(text: str) -> tuple[int, int]:
    """'96x54' -> (96, 54): width x height."""
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT (e.g. 64x64), got {text!r}") from None


def spelled_out(words: list[str], args: argparse.Namespace, *, only: argparse.ArgumentParser | None = None,
                **values) -> str:
    """The command `words` with every option of `args` spelled out, so that a result records how to reproduce it.

    values replace the parsed ones (e.g. a default the command resolved from the model); options that are None or
    False are left out, True ones written as bare flags. One-letter options are written -x, a (width, height) size as
    WxH, other tuples and lists comma-joined; --json comes last. only: just the options this parser defines, in its
    order (a command reachable from two groups, like `kinema play eval` = `kinema eval play`, also carries the
    defaults of the group it was reached through).
    """
    given = {**vars(args), **values}
    keys = list(given) if only is None else [a.dest for a in only._actions if a.dest in given]  # its own order
    parts = list(words)
    for key in keys:
        value = given[key]
        if key in ("run", "json", "command") or key.endswith("_command") or value is None or value is False:
            continue
        flag = ("-" if len(key) == 1 else "--") + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif key == "size" and isinstance(value, tuple) and len(value) == 2:
            parts += [flag, f"{value[0]}x{value[1]}"]
        elif isinstance(value, (tuple, list)):
            parts += [flag, ",".join(str(v) for v in value)]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts) + (" --json" if getattr(args, "json", False) else "")
