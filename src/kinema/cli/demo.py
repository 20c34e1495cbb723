"""`kinema demo`: the README's first command. Makes videos with the shipped model and says where they went."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kinema.cli.generate import add_model_flag

# (file name, prompt, frames, size): text to video in English and in Chinese, a wide and a tall clip
DEMO_PROMPTS = (
    ("t2v_en.mp4", "a red ball moves to the right", 33, (64, 64)),
    ("t2v_zh.mp4", "两个球相撞", 33, (64, 64)),
    ("t2v_wide.mp4", "a blue ball falls", 17, (112, 64)),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the quickstart: make videos with the shipped model and say where they went")
    p.add_argument("-o", "--out", default="out", help="output folder (default: out/)")
    add_model_flag(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kinema.cli.generate import load_pipeline
    from kinema.video import write_video
    from kinema.worlds import render

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pipe = load_pipeline(args.model)
    print(f"model: {pipe.name} ({pipe.version}), loaded in {time.perf_counter() - t0:.1f} s")
    clips, labels = [], []
    for name, prompt, frames, size in DEMO_PROMPTS:
        t0 = time.perf_counter()
        res = pipe.generate(prompt, frames=frames, size=size, seed=0)
        path = res.save(out / name)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s: {prompt!r}")
        if size == pipe.default_size:
            clips.append(res.video)
            labels.append(res.metadata.get("prompt_as_encoded", prompt))
    # Phyworld's protocol: the first 3 frames of a ground-truth collision, the rest generated
    gt = render("physics/collision", seed=10_000_003, frames=33, width=64, height=64)
    res = pipe.extend(gt.video, context_frames=3, frames=33, prompt=gt.caption["en"]["detailed"], seed=0)
    path = res.save(out / "extend_collision.mp4")
    print(f"wrote {path}: 3 ground-truth frames, 30 generated")
    sheet = film_strips([gt.video, res.video, *clips], ["ground truth", "kinema, from its first 3 frames", *labels])
    write_video(out / "demo_sheet.png", sheet[None], 1.0)
    print(f"wrote {out / 'demo_sheet.png'}: a contact sheet of the clips")
    return 0


def film_strips(clips, labels, n: int = 8):
    """One row per clip: n evenly spaced frames, the clip's label under its first frame -> uint8 (H, W, 3)."""
    import numpy as np

    from kinema.video import contact_sheet

    images, names = [], []
    for clip, label in zip(clips, labels):
        idx = np.linspace(0, len(clip) - 1, n).round().astype(int)
        images += [clip[i] for i in idx]
        names += [label[:40]] + [f"frame {i}" for i in idx[1:]]
    return contact_sheet(images, cols=n, labels=names)
