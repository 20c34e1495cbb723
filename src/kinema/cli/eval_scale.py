"""`kinema eval scale`: the scale study (Phyworld's Fig. 3 axes: velocity error against model size and data).

    kinema eval scale --out docs/eval/scale --runs runs/scale     # 3 sizes x 3 pools, resumable cell by cell
"""

from __future__ import annotations

import argparse
import json

from kinema.cli import parse_size


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_scale_parser(esub: argparse._SubParsersAction) -> None:
    s = esub.add_parser("scale", help="scale study: velocity error against model size and training videos "
                        "(trains every cell; resumable)")
    s.add_argument("--sizes", type=_ints, default=None,
                   help="DiT widths, comma-separated (kinema.eval.scale.SIZES; default 64,128,256)")
    s.add_argument("--videos", type=_ints, default=None, help="training pool sizes (default 64,512,4096)")
    s.add_argument("--scenario", default=None, help="uniform, collision or parabola (default uniform)")
    s.add_argument("--steps", type=int, default=None, help="training steps of every cell (default 600)")
    s.add_argument("--batch-size", type=int, default=None, help="training batch of every cell (default 8)")
    s.add_argument("--lr", type=float, default=None, help="peak learning rate (default 4e-4)")
    s.add_argument("--size", type=parse_size, default=None, help="WIDTHxHEIGHT (default 64x64)")
    s.add_argument("--frames", type=int, default=None, help="training clip frames (default 33)")
    s.add_argument("--vae", default=None, help="VAE run or model directory (default: the shipped model's VAE)")
    s.add_argument("-n", type=int, default=None, help="evaluation clips per split (default 10)")
    s.add_argument("--eval-steps", type=int, default=None, help="sampler steps in the evaluation (default 16)")
    s.add_argument("--seed", type=int, default=None, help="training seed of every cell (default 0)")
    s.add_argument("--runs", default="runs/scale", help="where the cells' run directories go (default runs/scale)")
    s.add_argument("--out", default=None, help="directory for report.md, results.json and scale.png")
    s.add_argument("--json", action="store_true", help="print the study as one JSON object on the last line")
    s.set_defaults(run=run_scale)


def run_scale(args: argparse.Namespace) -> int:
    import platform

    from kinema.eval.scale import fmt, run_scale_study, with_defaults, write_scale_report

    cfg = with_defaults(sizes=args.sizes, videos=args.videos, scenario=args.scenario, steps=args.steps,
                        batch_size=args.batch_size, lr=args.lr, size=args.size, frames=args.frames, vae=args.vae,
                        n=args.n, eval_steps=args.eval_steps, seed=args.seed)
    study = run_scale_study(cfg, args.runs)
    study["machine"] = _cpu_name() or platform.processor() or platform.machine()
    print(f"scale study ({cfg.scenario}, {len(study['cells'])} cells, {study['runtime']['total_s'] / 60:.1f} min): "
          "velocity error, world units/s")
    for c in study["cells"]:
        print(f"  d{c['size']:<4d} {c['params'] / 1e6:6.2f}M  {c['videos']:6d} videos  ID {fmt(c['id']['model'])}  "
              f"OOD {fmt(c['ood']['model'])}  (GT floor ID {fmt(c['id']['gt'])})")
    if args.out:
        print(f"wrote {write_scale_report(study, args.out)}, results.json and scale.png")
    if args.json:
        print(json.dumps({k: v for k, v in study.items()}))
    return 0


def _cpu_name() -> str | None:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
