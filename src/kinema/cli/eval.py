"""`kinema eval ...`: measurements of trained models.

    kinema eval recon   --model runs/vae                 VAE PSNR per world and the Phyworld reconstruction floor
    kinema eval physics --model runs/dit --out ev/       Phyworld's physical-law evaluation (velocity error, floors)
    kinema eval scenes  --model runs/dit --out ev/       abnormal events and object permanence, held-out templates
    kinema eval scale   --out docs/eval/scale            velocity error against model size and training videos
    kinema eval fvd     --model runs/dit --out ev/       kinema-FVD vs its floors, PSNR/SSIM of recon and continuation
    kinema eval fvd-encoder --out DIR                    train the video feature encoder kinema-FVD uses

--model takes a model or DiT run directory (default: the shipped model) or a reference model: simulator (the ground
truth itself: scores at the floor), repeat-last (nothing moves) or linear (constant pixel velocity).
"""

from __future__ import annotations

import argparse
import json

from kinema.cli import parse_size
from kinema.cli.generate import MODEL_HELP, add_clip_flags, add_expand_flag, add_model_flag, add_sampler_flags


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

    # = kinema.eval.physics/scenes.DEFAULT_N (tests check), not imported: --help stays fast
    N_PHYSICS, N_SCENES = 20, 16

    ph = esub.add_parser("physics", help="Phyworld physical-law evaluation: velocity error vs floors, ID and OOD")
    _continuation_flags(ph, N_PHYSICS)
    ph.add_argument("--scenario", default="all", help="uniform, collision, parabola or all (default all)")
    ph.add_argument("--split", default="both", help="id, ood or both (default both)")
    ph.set_defaults(run=run_physics)
    sc = esub.add_parser("scenes", help="abnormal events and object permanence on held-out scene templates")
    _continuation_flags(sc, N_SCENES)
    sc.add_argument("--template", default="all", help="a held-out scenes template or all (default all)")
    sc.set_defaults(run=run_scenes)
    _add_prompts_parser(esub)
    from kinema.cli.eval_scale import add_scale_parser

    add_scale_parser(esub)
    _add_fvd_parsers(esub)
    from kinema.cli.play import add_eval_arguments, run_eval

    pl = esub.add_parser("play", help="interactive mode: PSNR/SSIM by horizon, action following, loops, stability")
    add_eval_arguments(pl)
    pl.set_defaults(run=run_eval)


def _continuation_flags(p: argparse.ArgumentParser, n: int) -> None:
    add_model_flag(p, help=f"{MODEL_HELP}, or simulator, repeat-last, linear")
    p.add_argument("-n", type=int, default=n, help=f"clips per cell (default {n}; evaluation seeds)")
    add_clip_flags(p, frames=False, size=(64, 64), fps=False)
    add_sampler_flags(p, seed="added to every clip's sampling seed", sampler=False)
    p.add_argument("--history-guidance", action="store_true",
                   help="guide on the given frames as well as the caption (the unconditional branch has neither)")
    p.add_argument("--vae", default=None, help="VAE for the reconstruction floor when the model has none "
                   "(a VAE run or model directory)")
    p.add_argument("--out", default=None, help="directory for report.md, results.json and the plots")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")


def run_recon(args: argparse.Namespace) -> int:
    from kinema.eval.recon import evaluate_recon
    from kinema.train.recipes import load_vae

    if args.n < 1:
        raise ValueError("-n must be >= 1")
    res = evaluate_recon(load_vae(args.model), n=args.n, size=args.size, frames=args.frames)
    print(f"VAE reconstruction, {res['n']} clips each, {res['size']}, {res['frames']} frames")
    for world, v in res["psnr_db"].items():
        print(f"  {world:10s} PSNR {v:6.2f} dB  SSIM {res['ssim'][world]:.3f}  sharpness vs truth "
              f"{res['sharpness'][world]:.2f}")
    for s, v in res["recon_floor"].items():
        print(f"  reconstruction floor {s:10s} {'n/a' if v is None else f'{v:.4f}'} world units/s")
    if args.json:
        print(json.dumps(res))
    return 0

# ----------------------------------------------------------------------------------------------------------------------
# physics and scenes
# ----------------------------------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace):
    from kinema.eval.continuation import load_model
    from kinema.train.recipes import load_vae

    model = load_model(args.model, steps=args.steps, guidance=args.guidance, seed_offset=args.seed,
                       history_guidance=args.history_guidance)
    vae = load_vae(args.vae) if args.vae else None
    return model, vae


def _sampling(args: argparse.Namespace) -> dict:
    """How a continuation evaluation's model samples, as its results record it (protocol.extra)."""
    return {"steps": args.steps, "guidance": args.guidance, "seed": args.seed,
            "history_guidance": args.history_guidance}


def _finish(args: argparse.Namespace, results: dict, examples: list, write_report) -> None:
    from pathlib import Path

    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
        print(f"wrote {write_report(results, out, examples)} and results.json")
    if args.json:
        print(json.dumps({k: v for k, v in results.items() if k != "clips"}))


def _num(x, d: int = 4) -> str:
    return "  n/a " if x is None else f"{x:.{d}f}"


def run_physics(args: argparse.Namespace) -> int:
    from kinema.eval.physics import PhysicsEvalConfig, evaluate_physics
    from kinema.eval.report import write_physics_report
    from kinema.worlds import physics

    scenarios = physics.SCENARIOS if args.scenario == "all" else (args.scenario,)
    splits = {"id": ("id",), "ood": ("ood",), "both": ("id", "ood")}.get(args.split)
    if splits is None:
        raise ValueError(f"--split must be id, ood or both, got {args.split!r}")
    cfg = PhysicsEvalConfig(scenarios=scenarios, splits=splits, n=args.n, size=args.size, extra=_sampling(args))
    model, vae = _load(args)
    results, examples = evaluate_physics(model, cfg, vae=vae)
    print(f"physics eval of {results['model']}: {cfg.n} clips per cell, {args.size[0]}x{args.size[1]}, "
          f"{results['runtime']['total_s']:.0f} s; velocity error in world units/s [95% CI]")
    for s, cell in results["summary"].items():
        for sp in splits:
            e = cell[sp]
            m = e["model"]["velocity_error"]
            ci = "" if m["mean"] is None else f" [{m['ci95'][0]:.4f}, {m['ci95'][1]:.4f}]"
            err = {src: _num(e[src]["velocity_error"]["mean"]) for src in ("gt", "vae", "repeat_last")}
            print(f"  {s:9s} {sp.upper():3s} model {_num(m['mean'])}{ci}  gt floor {err['gt']}  vae floor "
                  f"{err['vae']}  x{_num(e['ratio_to_gt']['ratio'], 1)} gt  repeat-last {err['repeat_last']}  along "
                  f"{_num(e['model']['motion_along']['mean'], 2)}  missed "
                  f"{_num(e['model']['missing_rate']['mean'], 2)}")
        if "ood_over_id" in cell:
            print(f"  {s:9s} OOD/ID model x{_num(cell['ood_over_id']['model']['ratio'], 2)}"
                  f"  (gt floor x{_num(cell['ood_over_id']['gt']['ratio'], 2)})")
    _finish(args, results, examples, write_physics_report)
    return 0


def run_scenes(args: argparse.Namespace) -> int:
    from kinema.eval.report import write_scenes_report
    from kinema.eval.scenes import FLAGS, ScenesEvalConfig, evaluate_scenes
    from kinema.worlds import scenes

    templates = scenes.HELDOUT_TEMPLATES if args.template == "all" else (args.template,)
    cfg = ScenesEvalConfig(templates=templates, n=args.n, size=args.size, extra=_sampling(args))
    model, vae = _load(args)
    results, examples = evaluate_scenes(model, cfg, vae=vae)
    print(f"scenes eval of {results['model']}: {cfg.n} clips per held-out template, {args.size[0]}x{args.size[1]}, "
          f"{results['runtime']['total_s']:.0f} s; share of clips [95% CI]")
    for t, cell in results["summary"].items():
        for src in ("model", "gt", "vae"):
            e = cell[src]
            if e is None:
                continue
            a, p = e["abnormal"], e["permanence"]
            flags = " ".join(f"{f} {e['flags'][f]['mean']:.2f}" for f in FLAGS)
            print(f"  {t:18s} {src:5s} abnormal {a['mean']:.2f} [{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}]  {flags}  "
                  f"permanence {_num(p['mean'], 2)} (n={p['n']})")
    _finish(args, results, examples, write_scenes_report)
    return 0


def _add_prompts_parser(esub: argparse._SubParsersAction) -> None:
    """`kinema eval prompts` (kinema.eval.prompts runs it; the flags live here so `kinema --help` imports nothing)."""
    p = esub.add_parser("prompts", help="prompt adherence: colour, kind, count and direction per language")
    add_model_flag(p, help="a DiT run directory or an exported model directory")
    p.add_argument("--ground-truth", action="store_true",
                   help="score the worlds' own clips for each prompt instead of a model (the parser's calibration)")
    p.add_argument("--through-vae", metavar="VAE", help="with --ground-truth: pass the worlds' clips through this VAE "
                   "(a run or model directory) first, the parser's ceiling for a model built on it")
    p.add_argument("-n", type=int, default=1, help="clips per prompt and language (seeds 0..n-1)")
    p.add_argument("--languages", default="en,zh", help="comma-separated: en, zh")
    add_clip_flags(p, frames=17, size=(64, 64), fps=False)
    add_sampler_flags(p, seed=None, sampler=False)
    add_expand_flag(p)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--out", help="a folder for results.json and accuracy.png")
    p.set_defaults(run=_run_prompts)


def _run_prompts(args: argparse.Namespace) -> int:
    from kinema.eval.prompts import run_prompts

    return run_prompts(args)

# ----------------------------------------------------------------------------------------------------------------------
# fvd
# ----------------------------------------------------------------------------------------------------------------------

N_FVD = 48  # = kinema.eval.fvd.DEFAULT_N (tests check), not imported: --help stays fast
ENCODER_STEPS, ENCODER_CLIPS = 4000, 16000  # = kinema.eval.features.EncoderTrainConfig defaults (tests check)


def _add_fvd_parsers(esub: argparse._SubParsersAction) -> None:
    f = esub.add_parser("fvd", help="kinema-FVD (kinema's own video encoder) vs its sampling and VAE floors, "
                        "PSNR/SSIM of reconstruction and continuation")
    add_model_flag(f)
    f.add_argument("-n", type=int, default=N_FVD, help=f"clips per set (default {N_FVD}; evaluation seeds)")
    add_clip_flags(f, frames=32, size=(64, 64), fps=False)
    add_sampler_flags(f, seed="added to every clip's sampling seed", sampler=False)
    f.add_argument("--encoder", default=None,
                   help="feature encoder directory (default: the shipped src/kinema/assets/kinema-fvd-encoder)")
    f.add_argument("--out", default=None, help="directory for report.md, results.json and the plots")
    f.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    f.set_defaults(run=run_fvd)
    e = esub.add_parser("fvd-encoder", help="train the video feature encoder kinema-FVD uses (training seeds only)")
    e.add_argument("--out", required=True, help="directory for encoder.safetensors, config.json and train.log")
    e.add_argument("--steps", type=int, default=ENCODER_STEPS, help=f"optimizer steps (default {ENCODER_STEPS})")
    e.add_argument("--clips", type=int, default=ENCODER_CLIPS,
                   help=f"training clips, rendered once (default {ENCODER_CLIPS})")
    e.add_argument("--val-clips", type=int, default=1000, help="held-out clips (default 1000)")
    e.add_argument("--batch-size", type=int, default=32, help="clips per step (default 32)")
    e.add_argument("--preset", default="small", help="encoder size: small (default, shipped) or tiny")
    e.add_argument("--seed", type=int, default=0, help="initialisation and batch order (default 0)")
    e.set_defaults(run=run_fvd_encoder)


def run_fvd(args: argparse.Namespace) -> int:
    import hashlib
    from pathlib import Path

    from kinema.cli import spelled_out
    from kinema.eval.continuation import load_model
    from kinema.eval.features import default_encoder_dir, load_encoder
    from kinema.eval.fvd import FVDEvalConfig, evaluate_fvd, write_fvd_report

    cfg = FVDEvalConfig(n=args.n, size=args.size, frames=args.frames, steps=args.steps, guidance=args.guidance,
                        seed=args.seed)
    model = load_model(args.model, steps=args.steps, guidance=args.guidance, seed_offset=args.seed)
    if not hasattr(model, "pipe"):
        raise ValueError("kinema eval fvd scores text-to-video: --model must be a model or DiT run directory")
    enc_dir = Path(args.encoder) if args.encoder else default_encoder_dir()
    encoder, doc = load_encoder(enc_dir)
    weights = (enc_dir / "encoder.safetensors").read_bytes()
    info = {"path": str(enc_dir) if args.encoder else "src/kinema/assets/kinema-fvd-encoder",
            "sha256": hashlib.sha256(weights).hexdigest()[:16], "params": doc.get("params"),
            "heldout": doc.get("heldout"), "input": doc.get("input")}
    results, examples = evaluate_fvd(model.pipe, encoder, cfg, encoder_info=info)
    results["command"] = spelled_out(["kinema", "eval", "fvd"], args, n=cfg.n, size=cfg.size, frames=cfg.frames,
                                     steps=cfg.steps, guidance=cfg.guidance, seed=cfg.seed)
    s, fid = results["fvd"], results["fidelity"]
    print(f"kinema-FVD of {results['model']} (kinema's own encoder, not I3D-FVD): {cfg.n} clips per set, "
          f"{cfg.size[0]}x{cfg.size[1]}, {cfg.frames} frames, {results['runtime']['total_s']:.0f} s [95% CI]")
    for k, v in s.items():
        print(f"  {k:15s} {v['fvd']:10.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]  {v['what']}")
    for k in ("recon", "continuation"):
        print(f"  {k:15s} PSNR {fid[k]['psnr_db']['mean']:.2f} dB  SSIM {fid[k]['ssim']['mean']:.4f}")
    _finish(args, results, examples, write_fvd_report)
    return 0


def run_fvd_encoder(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kinema.cli import spelled_out
    from kinema.eval.features import EncoderTrainConfig, save_encoder, train_encoder

    cfg = EncoderTrainConfig(preset=args.preset, steps=args.steps, clips=args.clips, val_clips=args.val_clips,
                             batch_size=args.batch_size, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "train.log").open("w", encoding="utf-8")

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_file.write(msg + "\n")
        log_file.flush()

    command = spelled_out(["kinema", "eval", "fvd-encoder"], args)
    log(f"$ {command}")
    model, metrics = train_encoder(cfg, log=log)
    save_encoder(model, out, cfg, metrics)
    (out / "command.txt").write_text(command + "\n", encoding="utf-8")
    log(f"wrote {out / 'encoder.safetensors'} and config.json ({metrics['runtime']['total_s']:.0f} s)")
    log_file.close()
    return 0
