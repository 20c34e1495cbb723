"""`kinema generate "PROMPT"`: text to video (or to an image with --frames 1)."""

from __future__ import annotations

import argparse
import sys

from kinema.cli import parse_size


def add_sampling_flags(p: argparse.ArgumentParser) -> None:
    """Flags every generating command shares."""
    p.add_argument("-o", "--out", required=True, help="output file: .mp4, .gif or .png")
    p.add_argument("--frames", type=int, default=17, help="number of frames (1 = an image)")
    p.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT (default 64x64)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of the written file (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise: same seed, same video")
    p.add_argument("--steps", type=int, default=16, help="sampler steps")
    p.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--sampler", choices=("euler", "heun"), default="euler", help="ODE sampler")
    p.add_argument("--model", default=None, help="model or DiT run directory (default: the shipped model)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a video from a text prompt")
    p.add_argument("prompt", help='what to show, in English or Chinese, e.g. "a red ball moves right"')
    add_sampling_flags(p)
    p.set_defaults(run=run)


def load_pipeline(model: str | None):
    from pathlib import Path

    from kinema.pipeline import Pipeline, default_model_dir

    path = Path(model) if model else default_model_dir()
    if path is None:
        raise ValueError("no shipped model in this checkout yet: pass --model RUN_OR_MODEL_DIR")
    return Pipeline.from_pretrained(path)


def progress(steps: int):
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="denoising", unit="step", file=sys.stderr, leave=False)

    def cb(i: int, n: int, x) -> None:
        bar.update(1)
        if i == n - 1:
            bar.close()
    return cb


def run(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    out = pipe.generate(args.prompt, frames=args.frames, size=args.size, fps=args.fps, seed=args.seed,
                        steps=args.steps, guidance=args.guidance, sampler=args.sampler, callback=progress(args.steps))
    path = out.save(args.out)
    encoded = out.metadata.get("prompt_as_encoded")
    if encoded and encoded != args.prompt:
        print(f"prompt as encoded: {encoded}")
    print(f"wrote {path} ({out.video.shape[0]} frames, {out.video.shape[2]}x{out.video.shape[1]}, {out.fps:g} fps) "
          f"and {path.with_suffix('.json')}")
    return 0
