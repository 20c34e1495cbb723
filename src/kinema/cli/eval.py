"""`kinema eval ...`: measurements of trained models (the evaluation harness grows here)."""

from __future__ import annotations

import argparse
import json

from kinema.cli import parse_size


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate trained models")
    esub = p.add_subparsers(dest="eval_command", metavar="WHAT")
    esub.required = True
    r = esub.add_parser("recon", help="VAE reconstruction PSNR per world and the Phyworld reconstruction floor")
    r.add_argument("--model", required=True, help="a VAE run directory or a model directory with vae.safetensors")
    r.add_argument("-n", type=int, default=16, help="clips per world / scenario (evaluation seeds)")
    r.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT")
    r.add_argument("--frames", type=int, default=33, help="frames per clip (1 + 4k)")
    r.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    r.set_defaults(run=run_recon)


def run_recon(args: argparse.Namespace) -> int:
    from kinema.eval.recon import evaluate_recon
    from kinema.train.recipes import load_vae

    if args.n < 1:
        raise ValueError("-n must be >= 1")
    res = evaluate_recon(load_vae(args.model), n=args.n, size=args.size, frames=args.frames)
    print(f"VAE reconstruction, {res['n']} clips each, {res['size']}, {res['frames']} frames")
    for world, v in res["psnr_db"].items():
        print(f"  PSNR {world:10s} {v:6.2f} dB")
    for s, v in res["recon_floor"].items():
        print(f"  reconstruction floor {s:10s} {'n/a' if v is None else f'{v:.4f}'} world units/s")
    if args.json:
        print(json.dumps(res))
    return 0
