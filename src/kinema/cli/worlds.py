"""`kinema worlds list | render | preview`: the procedural worlds from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from kinema.cli import parse_size


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worlds", help="list, render and preview the built-in procedural worlds")
    wsub = p.add_subparsers(dest="worlds_command", metavar="ACTION")
    wsub.required = True

    ls = wsub.add_parser("list", help="list worlds and their scenarios")
    ls.set_defaults(run=run_list)

    r = wsub.add_parser("render", help="render one clip of WORLD[/SCENARIO] to a video file")
    r.add_argument("name", metavar="WORLD[/SCENARIO]", help="e.g. physics/collision, scenes/ramp_roll, explore/gallery")
    r.add_argument("-o", "--out", required=True, help="output file: .mp4, .gif or .png (1 frame or contact sheet)")
    r.add_argument("--seed", type=int, default=0, help="seed that fixes the scenario's layout and motion")
    r.add_argument("--frames", type=int, default=32, help="number of frames (1 = an image)")
    r.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT in pixels (default 64x64)")
    r.add_argument("--fps", type=float, default=10.0, help="frames per second; simulated time advances 1/fps a frame")
    r.add_argument("--ood", action="store_true", help="draw parameters from the out-of-distribution ranges")
    r.add_argument("--actions", default=None,
                   help='explore only: one action per frame after the first, e.g. "W W A D ." '
                        "(W forward, S back, A/D turn left/right, Q/E strafe left/right, . no-op)")
    r.add_argument("--state", default=None, metavar="STATE.json",
                   help="also write the per-frame ground truth and captions as JSON")
    r.set_defaults(run=run_render)

    pv = wsub.add_parser("preview", help="draw a contact sheet of samples of a world")
    pv.add_argument("name", metavar="WORLD[/SCENARIO]")
    pv.add_argument("-o", "--out", required=True, help="output PNG")
    pv.add_argument("-n", type=int, default=8, help="number of samples (rows)")
    pv.add_argument("--frames", type=int, default=8, help="frames shown per sample (columns)")
    pv.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT of each frame")
    pv.add_argument("--seed", type=int, default=0, help="first seed; samples use seed, seed+1, ...")
    pv.set_defaults(run=run_preview)

    fl = wsub.add_parser("floors", help="Phyworld ground-truth parse floors of the physics world (Markdown table)")
    fl.add_argument("-n", type=int, default=32, help="clips per scenario and size (evaluation seeds)")
    fl.add_argument("--size", type=parse_size, action="append", default=None,
                    help="WIDTHxHEIGHT, repeatable (default 64x64 and 128x128)")
    fl.add_argument("--ood", action="store_true", help="out-of-distribution parameter ranges")
    fl.set_defaults(run=run_floors)


def run_list(args: argparse.Namespace) -> int:
    from kinema.worlds import WORLDS, world_module

    for world in WORLDS:
        mod = world_module(world)
        doc = (mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else ""
        print(f"{world:8s} {doc}")
        print(f"         scenarios: {', '.join(mod.SCENARIOS)}")
    return 0


def _render(name: str, *, seed: int, frames: int, size: tuple[int, int], fps: float, ood: bool = False,
            actions: str | None = None):
    from kinema.worlds import parse_name, render

    world, _ = parse_name(name)
    kwargs = dict(seed=seed, frames=frames, width=size[0], height=size[1], fps=fps, ood=ood)
    if actions is not None:
        if world != "explore":
            raise ValueError("--actions only applies to the explore world")
        kwargs["actions"] = actions
    return render(name, **kwargs)


def run_render(args: argparse.Namespace) -> int:
    from kinema.video import write_video

    sample = _render(args.name, seed=args.seed, frames=args.frames, size=args.size, fps=args.fps, ood=args.ood,
                     actions=args.actions)
    meta = {"world": sample.world, "seed": sample.seed, "caption": sample.caption["en"]["detailed"],
            "caption_zh": sample.caption["zh"]["detailed"], "generator": "kinema worlds render"}
    out = write_video(args.out, sample.video, sample.fps, metadata=meta)
    print(f"wrote {out} ({sample.frames} frames, {sample.size[0]}x{sample.size[1]}, {sample.fps:g} fps): "
          f"{sample.caption['en']['short']}")
    if args.state:
        Path(args.state).parent.mkdir(parents=True, exist_ok=True)
        Path(args.state).write_text(sample.state_json(), encoding="utf-8")
        print(f"wrote {args.state} (per-frame ground truth and captions)")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    import numpy as np

    from kinema.video import contact_sheet, write_video

    if args.n < 1 or args.frames < 1:
        raise ValueError("-n and --frames must be >= 1")
    cells, labels = [], []
    for i in range(args.n):
        s = _render(args.name, seed=args.seed + i, frames=args.frames, size=args.size, fps=10.0)
        cells.extend(s.video)  # one row per sample, one column per frame
        labels.extend([f"seed {s.seed}"] + [f"t={k}" for k in range(1, s.frames)])
        print(f"row {i + 1}: {s.world} seed {s.seed}: {s.caption['en']['short']}")
    sheet = contact_sheet(cells, cols=args.frames, labels=labels)
    out = write_video(args.out, np.asarray(sheet)[None], 1.0, metadata={"world": args.name, "seeds": args.n})
    print(f"wrote {out} ({args.n} samples x {args.frames} frames)")
    return 0


def run_floors(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from kinema.eval.parse import parse_floor
    from kinema.worlds.physics import SCENARIOS

    sizes = args.size or [(64, 64), (128, 128)]
    cells = {}
    with tqdm(total=len(sizes) * len(SCENARIOS), desc="floors", leave=False) as bar:
        for w, h in sizes:
            for s in SCENARIOS:
                cells[s, w, h] = parse_floor(s, width=w, height=h, n=args.n, ood=args.ood)
                bar.update(1)
    split = "OOD" if args.ood else "ID"
    print("| scenario | " + " | ".join(f"{split} {w}x{h}" for w, h in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for s in SCENARIOS:
        print(f"| {s} | " + " | ".join(f"{cells[s, w, h]:.4f}" for w, h in sizes) + " |")
    return 0
