"""`kinema generate | animate | extend | connect | edit`: every way the model makes video, one Pipeline method each.

    kinema generate "a red ball moves right" -o ball.mp4 [--loop]
    kinema animate first.png -o moving.mp4 --prompt "the ball falls"
    kinema extend clip.mp4 -o longer.mp4 --context-frames 3 --frames 600     # 60 s at 10 fps, chained
    kinema extend clip.mp4 -o before.mp4 --backward
    kinema connect a.mp4 b.mp4 -o a_to_b.mp4
    kinema edit clip.mp4 -o edited.mp4 --prompt "a blue ball" --strength 0.6
"""

from __future__ import annotations

import argparse
import sys

from kinema.cli import parse_size


# ----------------------------------------------------------------------------------------------------------------------
# Flag groups of the commands that sample a model (here, kinema demo, kinema eval; kinema play's --size)
# ----------------------------------------------------------------------------------------------------------------------

MODEL_HELP = "model or DiT run directory (default: the shipped model)"
SEED_HELP = "seed of the initial noise: same seed, same video"


def add_model_flag(p: argparse.ArgumentParser, *, help: str = MODEL_HELP) -> None:
    """--model: the directory Pipeline.from_pretrained loads (None: the shipped model, unless `help` says otherwise)."""
    p.add_argument("--model", default=None, help=help)


def add_clip_flags(p: argparse.ArgumentParser, *, frames: int | None | bool = None,
                   size: tuple[int, int] | None | bool = None, fps: bool = True) -> None:
    """--frames, --size, --fps: the clip's shape. frames, size: the default (None: the model's own); False: no flag."""
    if frames is not False:
        p.add_argument("--frames", type=int, default=frames,
                       help="frames per clip (1 = an image; default: " +
                            ("the model's training window" if frames is None else str(frames)) + ")")
    if size is not False:
        p.add_argument("--size", type=parse_size, default=size,
                       help="WIDTHxHEIGHT (default: " + ("the size the model was trained at, the first if several"
                                                         if size is None else "%dx%d" % size) + ")")
    if fps:
        p.add_argument("--fps", type=float, default=None, help="frame rate of the written file (default: the model's)")


def add_sampler_flags(p: argparse.ArgumentParser, *, seed: str | None = SEED_HELP, sampler: bool = True,
                      steps: int | None = 16) -> None:
    """--seed, --steps, --guidance (and --sampler): how the model samples. seed: what the seed means to this command
    (None: no --seed); steps: the default (None: the model's own, Pipeline.default_steps)."""
    if seed is not None:
        p.add_argument("--seed", type=int, default=0, help=seed + " (default %(default)s)")
    p.add_argument("--steps", type=int, default=steps,
                   help="sampler steps (default " + ("the model's: 4 for a shortcut model, 16 otherwise"
                                                     if steps is None else str(steps)) + ")")
    p.add_argument("--guidance", type=float, default=3.0,
                   help="classifier-free guidance scale (1 = off; default %(default)s)")
    if sampler:
        p.add_argument("--sampler", choices=("euler", "heun"), default="euler", help="ODE sampler (default euler)")


def add_expand_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-expand", action="store_true",
                   help="give the model the prompt as written (default: a short prompt is expanded to the detailed "
                        "caption style the model was trained on)")


def add_sampling_flags(p: argparse.ArgumentParser, *, frames: bool = True, size: bool = True) -> None:
    """Flags every generating command shares."""
    p.add_argument("-o", "--out", required=True, help="output file: .mp4, .gif or .png")
    add_clip_flags(p, frames=None if frames else False, size=None if size else False)
    add_sampler_flags(p, steps=None)
    add_model_flag(p)
    add_expand_flag(p)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a video (or an image) from a text prompt")
    p.add_argument("prompt", help='what to show, in English or Chinese, e.g. "a red ball moves right"')
    add_sampling_flags(p)
    p.add_argument("--loop", action="store_true", help="add a generated transition so the clip loops seamlessly")
    p.set_defaults(run=run_generate)

    p = sub.add_parser("animate", help="image to video: the image is the first frame")
    p.add_argument("image", help="an image (png/jpg) or a video whose first frame is used")
    p.add_argument("--prompt", default="", help="what happens next (optional)")
    add_sampling_flags(p, size=False)
    p.set_defaults(run=run_animate)

    p = sub.add_parser("extend", help="continue a video forward (or backward): its first K frames are kept")
    p.add_argument("video", help="the video to extend")
    p.add_argument("--prompt", default="", help="what happens (optional)")
    p.add_argument("--context-frames", type=int, default=3,
                   help="K: frames of the input kept as they are (default 3, Phyworld's protocol)")
    p.add_argument("--backward", action="store_true", help="keep the LAST K frames and generate what came before")
    p.add_argument("--history-guidance", action="store_true",
                   help="guide on the kept frames as well as the prompt (the unconditional branch has neither)")
    add_sampling_flags(p, size=False)
    p.set_defaults(run=run_extend)

    p = sub.add_parser("connect", help="join two videos with a generated transition")
    p.add_argument("video_a", help="the first video")
    p.add_argument("video_b", help="the second video (same size)")
    p.add_argument("--prompt", default="", help="what happens in between (optional)")
    add_sampling_flags(p, size=False)
    p.set_defaults(run=run_connect)

    p = sub.add_parser("edit", help="video to video: redo a video under a new prompt (SDEdit)")
    p.add_argument("video", help="the video to edit")
    p.add_argument("--prompt", required=True, help="what the video should show")
    p.add_argument("--strength", type=float, default=0.6,
                   help="how much to change, in (0, 1]: 0.3 keeps the layout, 0.9 keeps little (default 0.6)")
    add_sampling_flags(p, frames=False, size=False)
    p.set_defaults(run=run_edit)


def load_pipeline(model: str | None):
    from pathlib import Path

    from kinema.pipeline import Pipeline, default_model_dir

    path = Path(model) if model else default_model_dir()
    if path is None:
        raise ValueError("no shipped model in this checkout: pass --model RUN_OR_MODEL_DIR")
    return Pipeline.from_pretrained(path)


def progress(steps: int | None):
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="denoising", unit="step", file=sys.stderr, leave=False)

    def cb(i: int, n: int, x) -> None:
        if bar.total is None or (i == 0 and bar.n >= bar.total):  # the first pass (steps=None: the model's), or a
            bar.reset(total=n)  # new pass (chained or looped generation): start the bar again
        bar.update(1)
    return cb


def frames_progress():
    from tqdm.auto import tqdm

    bar = tqdm(desc="frames", unit="frame", file=sys.stderr, leave=False)

    def cb(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return cb


def _common(args: argparse.Namespace) -> dict:
    return dict(fps=args.fps, seed=args.seed, steps=args.steps, guidance=args.guidance, sampler=args.sampler,
                expand=not args.no_expand, callback=progress(args.steps))


def _save(out, path: str, prompt: str | None = None) -> int:
    saved = out.save(path)
    expanded = out.metadata.get("expanded_prompt")
    if prompt and expanded and expanded != prompt:
        print(f"prompt expanded to: {expanded}  (--no-expand to use it as written)")
    encoded = out.metadata.get("prompt_as_encoded")
    if prompt and encoded and encoded not in (prompt, expanded):
        print(f"prompt as encoded: {encoded}")
    v = out.video
    print(f"wrote {saved} ({v.shape[0]} frames, {v.shape[2]}x{v.shape[1]}, {out.fps:g} fps) and "
          f"{saved.with_suffix('.json')}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    frames = args.frames if args.frames is not None else pipe.window
    out = pipe.generate(args.prompt, frames=frames, size=args.size, loop=args.loop, progress=frames_progress(),
                        **_common(args))
    if args.loop:
        print(f"loop: added a {out.metadata['loop_transition_frames']}-frame transition back to the first frame")
    return _save(out, args.out, args.prompt)


def run_animate(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    frames = args.frames if args.frames is not None else pipe.window
    out = pipe.animate(args.image, prompt=args.prompt, frames=frames, progress=frames_progress(), **_common(args))
    return _save(out, args.out, args.prompt)


def run_extend(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    out = pipe.extend(args.video, prompt=args.prompt, context_frames=args.context_frames, frames=args.frames,
                      backward=args.backward, history_guidance=args.history_guidance, progress=frames_progress(),
                      **_common(args))
    return _save(out, args.out, args.prompt)


def run_connect(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    out = pipe.connect(args.video_a, args.video_b, prompt=args.prompt, frames=args.frames, **_common(args))
    seg = out.metadata["segments"]["transition"]
    print(f"transition: frames {seg[0]}..{seg[1] - 1}")
    return _save(out, args.out, args.prompt)


def run_edit(args: argparse.Namespace) -> int:
    pipe = load_pipeline(args.model)
    out = pipe.edit(args.video, prompt=args.prompt, strength=args.strength, **_common(args))
    return _save(out, args.out, args.prompt)
