"""`kinema demo`: the README's first command. Renders world clips until a shipped model exists."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the quickstart: make a video on a fresh machine and say where it went")
    p.add_argument("-o", "--out", default="out", help="output folder (default: out/)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kinema.cli.worlds import _render
    from kinema.video import write_video

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, size in (("physics/collision", (128, 128)), ("scenes/ramp_roll", (160, 90)),
                       ("explore/gallery", (160, 90))):
        s = _render(name, seed=0, frames=32, size=size, fps=10.0)
        path = write_video(out / f"{name.replace('/', '_')}.mp4", s.video, s.fps,
                           metadata={"world": s.world, "seed": s.seed, "caption": s.caption["en"]["detailed"]})
        print(f"wrote {path}: {s.caption['en']['short']}")
    return 0
