"""`kinema train vae|dit` and `kinema export`: the training recipes from the command line.

Every TrainConfig and DataConfig field has a flag; the whole config is saved in the run directory and every checkpoint.
Runs under torchrun unchanged: `torchrun --nproc_per_node 2 -m kinema train dit ...`.
"""

from __future__ import annotations

import argparse


def add_schedule_flags(p: argparse.ArgumentParser, *, batch: int) -> None:
    """--resume, --steps, --batch-size, --grad-accum, --lr, --warmup, --ema, --precision, --grad-checkpointing:
    the optimisation flags every training command shares (see train_config)."""
    p.add_argument("--resume", action="store_true", help="continue from the run directory's latest checkpoint")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps in the whole run")
    p.add_argument("--batch-size", type=int, default=batch, help="global batch (all processes and micro-batches)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step on each process")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=None, help="warmup steps (default: min(100, steps/10))")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay (0 = off)")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="bf16 autocast or plain fp32")
    p.add_argument("--grad-checkpointing", action="store_true", help="recompute activations to save memory")
    p.add_argument("--lr-mult", action="append", default=[], metavar="NAME=K",
                   help="parameters whose names (or their tails after a dot) start with NAME train at K x the "
                        "learning rate, repeatable (e.g. pos_embed=10 for a zero-initialised layer new to a "
                        "warm-started model, warp=30 for every block's action warp)")


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--ckpt-every, --keep-last, --log-every, --sample-every, --seed: what a run writes, and its seed."""
    p.add_argument("--ckpt-every", type=int, default=200, help="checkpoint every N steps")
    p.add_argument("--keep-last", type=int, default=3, help="checkpoints to keep")
    p.add_argument("--log-every", type=int, default=10, help="metrics line every N steps")
    p.add_argument("--sample-every", type=int, default=0, help="write a sample video every N steps (0 = never)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order, noise and initialisation")


def name_values(items: list[str], usage: str) -> dict[str, float]:
    """Repeated NAME=NUMBER flags -> {NAME: NUMBER}; the config they go to checks the names and numbers. Anything
    else (no "=" leaves the number "") is refused with `usage`."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"{usage}, got {item!r}") from None
    return out


def train_config(args: argparse.Namespace, out: str, **extra):
    """The TrainConfig of add_schedule_flags + add_run_flags (plus `extra` fields) for run directory `out`."""
    from kinema.train.config import TrainConfig

    warmup = args.warmup if args.warmup is not None else max(1, min(100, args.steps // 10))
    lr_mult = name_values(args.lr_mult, "--lr-mult takes NAME=K (a parameter name prefix and a factor)")
    return TrainConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
                       warmup_steps=warmup, ema_decay=args.ema, precision=args.precision,
                       grad_checkpointing=args.grad_checkpointing, ckpt_every=args.ckpt_every,
                       keep_last=args.keep_last, log_every=args.log_every, sample_every=args.sample_every,
                       seed=args.seed, out_dir=out, lr_mult=lr_mult, **extra)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the video VAE or the DiT on the worlds or a folder of videos")
    p.add_argument("model", choices=("vae", "dit"),
                   help="what to train (train a VAE first; the DiT works on its latents)")
    p.add_argument("--preset", default=None,
                   help="model size preset (see kinema.models.vae/dit PRESETS; default tiny, or --init-from's)")
    p.add_argument("--world", default="physics", dest="source",
                   help="training data: comma-separated worlds (physics, scenes/ramp_roll, explore, ...) or a folder "
                        "of videos/images with captions")
    p.add_argument("--vae", default=None, help="dit only: the VAE run or model directory whose latents it learns")
    p.add_argument("--out", default=None, help="run directory (default runs/<model>-<preset>)")
    add_schedule_flags(p, batch=8)
    p.add_argument("--size", action="append", default=None, metavar="WxH",
                   help="training size bucket, repeatable (default 64x64)")
    p.add_argument("--frames", action="append", type=int, default=None,
                   help="frame-count bucket, repeatable (default 17; 1 = images)")
    p.add_argument("--fps", type=float, default=10.0, help="training frame rate")
    p.add_argument("--num-videos", type=int, default=0, help="fixed training set size (0 = a new clip every sample)")
    add_run_flags(p)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--fsdp", action="store_true", help="FSDP2 sharding instead of DDP under torchrun")
    p.add_argument("--mode-probs", type=float, nargs=5, default=None, metavar="P",
                   help="dit only: probabilities of the conditioning modes t2v i2v extend extend_back connect "
                        "(default 0.4 0.2 0.15 0.1 0.15)")
    p.add_argument("--shortcut", type=float, default=0.0, metavar="FRAC",
                   help="dit only: share of each batch trained as a shortcut model (step-size input, self-consistency "
                        "targets; Frans et al. 2024) so that 2-4 sampling steps keep quality; 0 = plain flow matching; "
                        "0.25 is the paper's share")
    p.add_argument("--fg-weight", type=float, default=0.0, metavar="W",
                   help="extra loss weight where objects are (pixels away from the clip's dominant colour): weight "
                        "1 + W there, 1 elsewhere; 0 = plain loss. dit: on the latent positions they cover; vae: on "
                        "their pixels")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="start from the weights of an exported model or a run of the same kind (a warm start, not "
                        "a resume: new optimizer and schedule)")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="vae only, with --init-from: train the decoder only, so the latents (and a DiT trained on "
                        "them) stay exactly the same")
    p.set_defaults(run=run)

    e = sub.add_parser("export", help="bundle a trained DiT run (and its VAE) into a bf16 model directory, or give "
                       "a model directory a fine-tuned decoder")
    e.add_argument("run_dir", help="the DiT run directory, or with --vae an exported model directory (a pipeline or a "
                   "play model such as kinema-explore) to copy with that VAE instead of its own")
    e.add_argument("-o", "--out", required=True, help="model directory to write")
    e.add_argument("--name", default=None, help="model name recorded in config.json (default: the folder's name)")
    e.add_argument("--vae", default=None,
                   help="ship this VAE run instead of the DiT's own: a decoder fine-tune with the same encoder "
                        "(kinema train vae --init-from ... --freeze-encoder)")
    e.set_defaults(run=run_export)


def run(args: argparse.Namespace) -> int:
    from kinema.train.data import DataConfig
    from kinema.train.recipes import build_dit_run, build_vae_run

    data_cfg = DataConfig(source=args.source, sizes=tuple(args.size or ("64x64",)),
                          frames=tuple(args.frames or (17,)), fps=args.fps, num_videos=args.num_videos)
    if args.freeze_encoder and args.model != "vae":
        raise ValueError("--freeze-encoder is for kinema train vae")
    out = args.out or f"runs/{args.model}-{args.preset or 'tiny'}"
    train_cfg = train_config(args, out, compile=args.compile, fsdp=args.fsdp)
    if args.model == "vae":
        trainer = build_vae_run(args.preset, data_cfg, train_cfg, resume=args.resume, init_from=args.init_from,
                                freeze_encoder=args.freeze_encoder, fg_weight=args.fg_weight)
    else:
        if not args.vae:
            raise ValueError("kinema train dit needs --vae RUN_OR_MODEL_DIR (train one with: kinema train vae ...)")
        from kinema.train.recipes import FlowConfig

        if not 0 <= args.shortcut < 1:
            raise ValueError(f"--shortcut must be in [0, 1), got {args.shortcut}")
        flow = FlowConfig(**({"mode_probs": tuple(args.mode_probs)} if args.mode_probs else {}),
                          shortcut_frac=args.shortcut, fg_weight=args.fg_weight)
        trainer = build_dit_run(args.preset or "tiny", args.vae, data_cfg, train_cfg, resume=args.resume, flow=flow,
                                init_from=args.init_from)
    trainer.fit()
    from kinema.train import is_main

    if is_main():
        print(f"run directory: {out} (config.json, metrics.jsonl, loss.png, checkpoints)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from kinema.train.export import MODEL_KINDS, export_pipeline, replace_vae
    from kinema.train.recipes import read_config

    if read_config(args.run_dir).get("kind") in MODEL_KINDS:  # a model directory: only its VAE can change
        if not args.vae:
            raise ValueError(f"{args.run_dir} is an exported model directory: give --vae (a decoder fine-tune of "
                             "it) to copy it with that VAE, or export a run directory")
        out = replace_vae(args.run_dir, args.vae, args.out, name=args.name)
    else:
        out = export_pipeline(args.run_dir, args.out, name=args.name, vae=args.vae)
    print(f"wrote {out}")
    return 0
