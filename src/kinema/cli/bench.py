"""`kinema bench peak|train|sample|scaling`: speed and memory on this machine, each result naming machine and command.

Every command prints a table; with --json, one JSON object is the LAST line of stdout (the table stays above it).
diffusers (for --peer) is imported only when asked for; without it --peer ends in one line naming the extra.
"""

from __future__ import annotations

import argparse
import sys

from kinema.cli import parse_size


def _ints(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4)."""
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (e.g. 1,2,4), got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _shape(text: str) -> tuple[int, int, int, int]:
    """'4x6x2048x64' -> (batch, heads, tokens, head_dim)."""
    try:
        b, h, n, d = (int(v) for v in text.lower().split("x"))
        return b, h, n, d
    except ValueError:
        raise argparse.ArgumentTypeError(f"attention shape must be BxHEADSxTOKENSxHEAD_DIM, got {text!r}") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="also print the result as one JSON object, the last line")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = usable cores)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure speed and memory on this machine (optionally against diffusers)")
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCH")
    bsub.required = True

    q = bsub.add_parser("peak", help="fp32/bf16 matmul peak and bf16 attention throughput, TFLOP/s")
    q.add_argument("--size", type=int, default=4096, help="square matmul size (default 4096)")
    q.add_argument("--repeat", type=int, default=3, help="timed calls; the best counts (default 3)")
    q.add_argument("--attn", type=_shape, default=(4, 6, 2048, 64), help="SDPA shape BxHEADSxTOKENSxHEAD_DIM")
    _common(q)

    q = bsub.add_parser("train", help="DiT training-step throughput and MFU (--peer: against diffusers CogVideoX)")
    q.add_argument("--peer", action="store_true", help="also time diffusers' CogVideoX at a matched config")
    q.add_argument("--preset", default="peer29m", help="DiT preset (default peer29m, 29.38M params)")
    q.add_argument("--tokens", type=int, default=2064, help="video + text tokens per sample (default 2064)")
    q.add_argument("--text-len", type=int, default=16, help="text tokens per sample (default 16)")
    q.add_argument("--batch", type=int, default=4, help="samples per step (default 4)")
    q.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="bf16 autocast or fp32")
    q.add_argument("--steps", type=int, default=5, help="timed steps per model (default 5)")
    q.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    q.add_argument("--variants", type=_names, default=("baseline",),
                   help="speed ideas for kinema's step, comma-separated: baseline, fused-adamw, bf16-weights, "
                        "compile, all (default baseline)")
    q.add_argument("--dim", type=int, default=None, help="override the preset's width (reduced-size runs)")
    q.add_argument("--depth", type=int, default=None, help="override the preset's depth (reduced-size runs)")
    q.add_argument("--peak-size", type=int, default=4096, help="matmul size of the peak measured first")
    _common(q)

    q = bsub.add_parser("sample", help="one clip end to end, split into stages, against steps")
    q.add_argument("--peer", action="store_true", help="also make one clip with diffusers' CogVideoXPipeline")
    q.add_argument("--model", default=None, help="model or DiT run directory (default: the shipped model)")
    q.add_argument("--frames", type=int, default=16, help="frames (rounded up to 1 + f*k; default 16 -> 17)")
    q.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT (default 64x64)")
    q.add_argument("--steps", type=_ints, default=(1, 2, 4, 8, 16, 32), help="step counts (default 1,2,4,8,16,32)")
    q.add_argument("--guidance", type=float, default=3.0, help="kinema's guidance scale (default 3)")
    q.add_argument("--prompt", default="a red ball moves right", help="the prompt")
    q.add_argument("--peer-steps", type=int, default=50, help="the peer's steps (default 50)")
    q.add_argument("--peer-guidance", type=float, default=6.0, help="the peer's guidance scale (default 6)")
    q.add_argument("--out", default=None, help="keep the written clips in this folder (default: a temporary one)")
    _common(q)

    q = bsub.add_parser("scaling", help="one forward and one denoising step against tokens (256..16k)")
    q.add_argument("--preset", default="peer29m", help="DiT preset (default peer29m)")
    q.add_argument("--tokens", type=_ints, default=(256, 512, 1024, 2048, 4096, 8192, 16384),
                   help="token counts (default 256,...,16384)")
    q.add_argument("--text-len", type=int, default=16, help="text tokens (default 16)")
    q.add_argument("--guidance", type=float, default=3.0, help="guidance scale of the step (default 3)")
    q.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="bf16 autocast or fp32")
    q.add_argument("--repeat", type=int, default=1, help="timed calls per size; the best counts (default 1)")
    q.add_argument("--dim", type=int, default=None, help="override the preset's width (reduced-size runs)")
    q.add_argument("--depth", type=int, default=None, help="override the preset's depth (reduced-size runs)")
    q.add_argument("-o", "--out", default=None, help="write a log-log plot here (.png)")
    _common(q)
    p.set_defaults(run=run)
    from kinema.cli.play import add_bench_arguments, run_bench

    q = bsub.add_parser("play", help="interactive mode: frames per second and latency per frame, 1/2/4 steps")
    add_bench_arguments(q)
    q.set_defaults(run=run_bench)


def command_line(args: argparse.Namespace) -> str:
    """The command with every option spelled out, so that the result can be reproduced exactly."""
    from kinema.cli import spelled_out

    attn = {"attn": "x".join(str(v) for v in args.attn)} if getattr(args, "attn", None) else {}
    return spelled_out(["kinema", "bench", args.bench_command], args, **attn)


def run(args: argparse.Namespace) -> int:
    import torch

    from kinema.bench.machine import emit, machine_info
    from kinema.bench.peer import PeerMissing

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        fields, text = _RUNNERS[args.bench_command](args)
    except PeerMissing as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        return 2
    result = {"command": command_line(args), "machine": machine_info(), **fields}
    emit(result, text, args.json)
    return 0


def _peak(args):
    from kinema.bench.peak import AttentionShape, run_peak

    return run_peak(args.size, args.repeat, AttentionShape(*args.attn))


def _train(args):
    from kinema.bench.peak import measure_peak
    from kinema.bench.train import TrainSpec, run_train

    spec = TrainSpec(preset=args.preset, tokens=args.tokens, text_len=args.text_len, batch=args.batch,
                     precision=args.precision, steps=args.steps, warmup=args.warmup, peer=args.peer,
                     variants=args.variants, dim=args.dim, depth=args.depth)
    if args.peer:
        from kinema.bench.peer import import_diffusers

        import_diffusers()  # fail at once, before the peak measurement
    return run_train(spec, peak=measure_peak(args.peak_size, repeat=3))


def _sample(args):
    from kinema.bench.sample import run_sample

    return run_sample(args.model, frames=args.frames, size=args.size, steps=args.steps, guidance=args.guidance,
                      prompt=args.prompt, peer=args.peer, peer_steps=args.peer_steps,
                      peer_guidance=args.peer_guidance, out_dir=args.out)


def _scaling(args):
    from kinema.bench.scaling import run_scaling
    from kinema.bench.train import resized
    from kinema.models.dit import PRESETS

    if args.preset not in PRESETS:
        raise ValueError(f"unknown DiT preset {args.preset!r}; choose one of {sorted(PRESETS)}")
    cfg = resized(PRESETS[args.preset], args.dim, args.depth)
    return run_scaling(cfg, args.tokens, text_len=args.text_len, guidance=args.guidance, precision=args.precision,
                       repeat=args.repeat, out=args.out, name=args.preset)


_RUNNERS = {"peak": _peak, "train": _train, "sample": _sample, "scaling": _scaling}
