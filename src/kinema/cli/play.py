"""`kinema play`: interactive world mode (kinema.interactive) from the command line.

    kinema play --actions "W W W A A D" -o walk.mp4 [--prompt P] [--seed S] [--model DIR] [--compare] [--frames N]
    kinema play --live [--model DIR] [--compare]          # steer with W/S/A/D/Q/E in this terminal
    kinema play vae --steps N --out RUN                   # the time_down=1 VAE, on explore walks
    kinema play train --vae VAE_DIR --steps N --out RUN   # the action-conditioned model [--init-from MODEL_OR_RUN]
    kinema play export RUN -o kinema-explore              # bf16 model directory
    kinema play bench [--json] [--model DIR]              # fps and latency (also for `kinema bench play`)
    kinema play eval --model DIR [--json]                 # PSNR/SSIM by horizon, action following, loop, stability
    kinema play idm [--json]                              # validate the inverse-dynamics estimator on ground truth

add_bench_arguments/run_bench and add_eval_arguments/run_eval are what `kinema bench play` / `kinema eval play` wire in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kinema.cli import parse_size
from kinema.cli.generate import add_clip_flags


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(parse_size(s) for s in text.split(","))


def add_play_model_flags(p: argparse.ArgumentParser, *, default: str | None = "the shipped kinema-explore",
                         steps: bool = True) -> None:
    """--model (a play run or model directory; default None: the flag is required) and --steps (denoising steps per
    frame, default the model's)."""
    p.add_argument("--model", default=None, required=default is None,
                   help="a play run or model directory" + (f" (default: {default})" if default else ""))
    if steps:
        p.add_argument("--steps", type=int, default=None, help="denoising steps per frame (default: the model's, 1-4)")
        p.add_argument("--ctx-noise", type=float, default=None, metavar="T",
                       help="noise level of committed frames in the cache (default: the model's; within its trained "
                            "range)")
        p.add_argument("--ego-gain", type=float, default=None, metavar="G",
                       help="a model with ego motion: start each frame from the previous one with W's and S's zoom "
                            "raised to the power G (larger = steps forward and back show more; default: the model's)")
        p.add_argument("--reproject", type=float, default=None, metavar="R",
                       help="move each committed frame's latent R of the way to the VAE's encoding of its own "
                            "picture before the next frame is made from it (0 = off, the default unless the model "
                            "ships one; one encoder pass per frame)")
    p.add_argument("--action-guidance", type=float, default=None, metavar="G",
                   help="classifier-free guidance on the action: v_null + G (v_action - v_null); 1 = off (default: "
                        "the model's; > 1 needs a model trained with --action-dropout and runs two branches per "
                        "forward)")


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    add_play_model_flags(p, default="random weights, real size", steps=False)
    p.add_argument("--sizes", type=_sizes, default=((64, 64), (96, 96), (128, 128)), help="WxH,WxH,...")
    p.add_argument("--steps", type=_ints, default=(1, 2, 4), help="denoising steps per frame, comma-separated")
    p.add_argument("--frames", type=int, default=30, help="frames timed per run (after 5 warm-up frames)")
    p.add_argument("--no-fuse", action="store_true", help="commit each frame in its own forward (slower)")
    p.add_argument("--dit-bf16", action="store_true", help="run the DiT under bf16 autocast (the VAE always is)")
    p.add_argument("--reproject", type=float, default=None, metavar="R",
                   help="time play with this reprojection share (kinema play --reproject; default: the model's)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    add_play_model_flags(p, default=None)
    p.add_argument("-n", type=int, default=2, help="evaluation worlds per action policy")
    p.add_argument("--frames", type=int, default=513, help="frames per rollout (horizons 1, 8, 32, 128, 512 fit)")
    p.add_argument("--policies", default="scripted,random", help="action policies: scripted, random")
    p.add_argument("--idm-worlds", type=int, default=30,
                   help="worlds for the estimator's ground-truth check (0 = skip)")
    p.add_argument("--first-world", type=int, default=0, metavar="K",
                   help="skip the first K evaluation worlds of each policy (a held-out set for play settings chosen "
                        "on the first ones)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write report.md, results.json, play_psnr.png and play_examples.png here")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="steer a camera through a generated world (render, live, train, bench, eval)")
    p.add_argument("--actions", default=None, help='keys, e.g. "W W W A A D . Q E S" (W/S move, A/D turn, Q/E strafe, '
                   '. no-op); default: a scripted tour of every key')
    p.add_argument("-o", "--out", default=None, help="output video (.mp4, .gif, .webm, .png)")
    p.add_argument("--prompt", default=None, help="scene text (default: the caption of the world --seed makes)")
    p.add_argument("--seed", type=int, default=0, help="world seed (scenario and start view) and noise seed")
    p.add_argument("--scenario", choices=("gallery", "garden", "street"), default=None,
                   help="explore scenario (default: picked from the seed)")
    add_play_model_flags(p)
    p.add_argument("--compare", action="store_true", help="the ground-truth world (same seed and actions) beside it")
    p.add_argument("--frames", type=int, default=None, help="frames to render (default: 1 + number of actions; "
                   "missing actions are no-ops)")
    p.add_argument("--start", choices=("world", "text"), default=None,
                   help="frame 0 from the world's start view or from the prompt alone (default: text with --prompt, "
                        "else world)")
    add_clip_flags(p, frames=False, size=None, fps=False)
    p.add_argument("--live", action="store_true", help="play in this terminal with the keyboard")
    p.add_argument("--scale", type=int, default=1, help="--live: integer upscaling of the drawn frames")
    p.set_defaults(run=run)
    psub = p.add_subparsers(dest="play_command", metavar="COMMAND")
    psub.required = False

    t = psub.add_parser("train", help="train the action-conditioned play model on explore walks")
    t.add_argument("--vae", required=True, help="a time_down=1 VAE run or model directory (kinema play vae)")
    t.add_argument("--preset", default="S", help="model size (kinema.interactive.model.PRESETS: tiny, S, M, S8)")
    _train_flags(t, frames=16, batch=8)
    t.add_argument("--window", type=int, default=8, help="attention window in frames (itself included)")
    t.add_argument("--ctx-noise-max", type=float, default=0.1, metavar="T",
                   help="training: context frames are noised to t ~ U(0, T) (noise augmentation: a larger T teaches "
                        "the model to repair its own imperfect past frames)")
    t.add_argument("--ctx-noise", type=float, default=0.05, metavar="T",
                   help="play: the noise level committed frames get before they enter the cache (saved with the "
                        "model; at most --ctx-noise-max)")
    t.add_argument("--action-dropout", type=float, default=0.0, metavar="P",
                   help="training: each noisy frame's action is replaced by the null action with probability P, so "
                        "that play can guide on the action (--action-guidance); 0 = off")
    t.add_argument("--action-guidance", type=float, default=1.0, metavar="G",
                   help="play: the action guidance saved with the model (needs --action-dropout > 0 when not 1)")
    t.add_argument("--shortcut", type=float, default=0.0, metavar="F",
                   help="training: share of clips trained as a shortcut model (the mean velocity over each play "
                        "step, so that 1-4 steps give sharp frames; adds a step-size input); 0 = plain flow matching")
    t.add_argument("--self-rollout", type=float, default=0.0, metavar="F",
                   help="training: share of clips whose context frames are the model's own play rollout of the "
                        "clip's actions (no gradient; targets: --self-rollout-target), so it learns to go on from "
                        "its own imperfect past; played with the saved --ctx-noise and --action-guidance; 0 = off")
    t.add_argument("--self-rollout-target", choices=("data", "step"), default="data",  # PlayConfig checks them
                   help="training, self-rollout clips: what a noisy frame after the model's own frames learns: the "
                        "true frame (data), or the model's own previous frame plus the data's step to it, moved by "
                        "the key with --ego-motion (step: no jump back to the true frames that no key asked for)")
    t.add_argument("--carry-rows", type=int, default=0, metavar="N",
                   help="training: the last N rows of every batch are long walks carried from step to step: each "
                        "clip goes on from where the row's previous clip ended, played from the model's own last "
                        "frame (a self-rollout with the --self-rollout-target), so it learns from frame 100 or 400 "
                        "of its own walks; a resumed run starts them afresh; 0 = off")
    t.add_argument("--carry-clips", type=int, default=32, metavar="K",
                   help="with --carry-rows: clips per carried walk before a fresh world starts")
    t.add_argument("--drift-decay", type=float, default=0.0, metavar="D",
                   help="training, --self-rollout-target step: each frame's target takes D of the own drift's mean "
                        "over the frame off (a tint of the whole picture), leading a drifted colour back; 0 = off")
    t.add_argument("--drift-shrink", type=float, default=0.0, metavar="S",
                   help="training, --self-rollout-target step: each frame's target takes S of the whole own drift "
                        "off, its layout too, leading a washed-out rollout part of the way back to the world; 0 = off")
    t.add_argument("--gdl", type=float, default=0.0, metavar="W",
                   help="training: weight of a gradient difference loss beside the flow loss: the clean frame each "
                        "noisy frame's velocity implies must have the target's edges (local contrast), which "
                        "squared error alone lets a blurred guess skip; 0 = off")
    t.add_argument("--distill", type=float, default=0.0, metavar="F",
                   help="training: share of clips whose noisy frames learn the --teacher's path over each play step "
                        "(--distill-steps Euler steps with action guidance --distill-guidance), so that 1-2 steps "
                        "without guidance play like the teacher's many guided ones; adds a step-size input; 0 = off")
    t.add_argument("--teacher", default=None, metavar="DIR",
                   help="with --distill: the frozen play model or run to learn from (same latents; a resumed run "
                        "keeps its own)")
    t.add_argument("--distill-steps", type=int, default=4, metavar="K", help="--distill: teacher steps per play step")
    t.add_argument("--distill-guidance", type=float, default=2.0, metavar="G",
                   help="--distill: the teacher's action guidance")
    t.add_argument("--bridge", type=float, default=0.0, metavar="SIGMA",
                   help="each new frame's flow starts from the previous frame's latent plus SIGMA x noise instead of "
                        "pure noise (a bridge from one frame to the next; saved with the model, play follows it); "
                        "0 = from noise")
    t.add_argument("--ego-motion", action="store_true",
                   help="with --bridge: start each new frame from the previous one moved by its key's average camera "
                        "motion (a zoom about the centre and a sideways shift per key, fitted to the training walks' "
                        "latents when the run starts; saved with the model, play follows it); with --init-from "
                        "weights trained with ego motion, theirs is kept")
    t.add_argument("--refit-ego-motion", action="store_true",
                   help="with --ego-motion and --init-from: fit the ego motion anew instead of keeping the one the "
                        "warm start was trained with (how warm starts fitted it before this flag existed)")
    t.add_argument("--ego-gain", type=float, default=1.0, metavar="G",
                   help="with --ego-motion: raise the fitted zooms of W and S to the power G (the fit under-reads a "
                        "step forward or back; saved with the model, play follows it); 1 = as fitted")
    t.add_argument("--ego-interp", choices=("bilinear", "bicubic"), default="bilinear",  # model.EGO_INTERPS
                   help="with --ego-motion: how the previous frame's latent is resampled when it is moved (bilinear "
                        "blurs it a little at every frame, bicubic keeps its detail; saved with the model, play "
                        "follows it)")
    t.add_argument("--walker-prob", type=float, default=0.5, help="fraction of clips walked by the world's walker "
                   "(the rest: random runs of keys)")
    t.add_argument("--key-weight", action="append", default=[], metavar="KEY=W",
                   help="in the random clips, draw KEY W times as often as a key without a weight, repeatable "
                        "(e.g. S=3)")
    t.add_argument("--init-from", default=None, metavar="DIR",
                   help="start from the weights of an exported play model or a play run (a warm start, not a resume: "
                        "new optimizer and schedule; the latent statistics it was trained with are kept)")
    t.set_defaults(run=run_train)

    v = psub.add_parser("vae", help="train a time_down=1 VAE (one latent frame per frame) on explore walks")
    v.add_argument("--preset", default="f4t1", help="kinema.interactive.model.VAE_PRESETS: tiny-t1, f4t1")
    _train_flags(v, frames=9, batch=8)
    v.set_defaults(run=run_vae)

    e = psub.add_parser("export", help="bundle a play run and its VAE into a bf16 model directory")
    e.add_argument("run_dir", help="the play run directory, or a play model directory to write again with other "
                   "play defaults (its weights as they are)")
    e.add_argument("-o", "--out", required=True, help="model directory to write (e.g. kinema-explore)")
    e.add_argument("--name", default=None, help="model name recorded in config.json (default: the folder's name)")
    e.add_argument("--action-guidance", type=float, default=None, metavar="G",
                   help="ship this action guidance as the model's play default instead of the run's (e.g. the value "
                        "kinema eval play chose)")
    e.add_argument("--ego-gain", type=float, default=None, metavar="G",
                   help="ship this ego gain (W's and S's zoom raised to the power G) as the model's play default "
                        "instead of the run's")
    e.add_argument("--ctx-noise", type=float, default=None, metavar="T",
                   help="ship this context noise as the model's play default (within the range it trained with)")
    e.add_argument("--reproject", type=float, default=None, metavar="R",
                   help="ship this reprojection share (kinema play --reproject) as the model's play default")
    e.set_defaults(run=run_export)

    b = psub.add_parser("bench", help="frames per second and latency per frame (batch 1)")
    add_bench_arguments(b)
    b.set_defaults(run=run_bench)

    ev = psub.add_parser("eval", help="PSNR/SSIM by horizon, action following, loop closure, stability")
    add_eval_arguments(ev)
    ev.set_defaults(run=run_eval)

    i = psub.add_parser("idm", help="accuracy of the inverse-dynamics estimator on ground-truth walks")
    i.add_argument("-n", type=int, default=30, help="evaluation worlds (40 steps each)")
    i.add_argument("--size", type=parse_size, default=(64, 64), help="WIDTHxHEIGHT")
    i.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    i.set_defaults(run=run_idm)


def _train_flags(p: argparse.ArgumentParser, *, frames: int, batch: int) -> None:
    from kinema.cli.train import add_run_flags, add_schedule_flags

    p.add_argument("--out", required=True, help="run directory")
    add_schedule_flags(p, batch=batch)
    p.add_argument("--size", default="64x64", help="WIDTHxHEIGHT of the training clips")
    p.add_argument("--frames", type=int, default=frames, help="frames per training clip")
    p.add_argument("--fps", type=float, default=10.0, help="frame rate of the walks (motion per frame = speed/fps)")
    p.add_argument("--num-videos", type=int, default=0, help="fixed set of N worlds (0 = a new world every sample)")
    add_run_flags(p)


# ----------------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------------


def default_model_dir() -> Path | None:
    """The shipped model (src/kinema/assets/kinema-explore), when this checkout has one."""
    p = Path(__file__).resolve().parent.parent / "assets" / "kinema-explore"
    return p if (p / "config.json").is_file() else None


def _load(path: str | None):
    from kinema.interactive.recipe import load_play

    p = path or default_model_dir()
    if p is None:
        raise ValueError("no play model: pass --model DIR (a play run or model directory; train one with "
                         "`kinema play vae` then `kinema play train`)")
    return load_play(p)


def run(args: argparse.Namespace) -> int:
    from kinema.interactive.live import require_tty

    if args.steps is not None and not 1 <= args.steps <= 64:
        raise ValueError(f"--steps must be in [1, 64], got {args.steps}")
    if args.live:
        require_tty(sys.stdin, sys.stdout)  # before anything slow
    elif not args.out:
        raise ValueError("give -o OUT.mp4 to render a scripted rollout, or --live to play in the terminal")
    start = args.start or ("text" if args.prompt and not args.compare else "world")
    if args.compare and start == "text":
        raise ValueError("--compare needs the world's start view as frame 0: drop --start text")

    import numpy as np

    from kinema.interactive.data import SCRIPTED_TOUR, scene_caption, walk
    from kinema.interactive.session import Session, rollout
    from kinema.worlds.explore import SCENARIOS, make_world, parse_actions

    model = _load(args.model)
    scenario = args.scenario or SCENARIOS[args.seed % len(SCENARIOS)]
    world = make_world(scenario, args.seed)
    fps, (w, h) = model.cfg.fps, args.size or model.size
    prompt = args.prompt or scene_caption(world, fps)["en"]["detailed"]
    session = Session(model, prompt, seed=args.seed, steps=args.steps, ctx_noise=args.ctx_noise,
                      action_guidance=args.action_guidance, ego_gain=args.ego_gain, reproject=args.reproject)
    first = world.view(world.start_pose(), w, h) if start == "world" else None

    if args.live:
        from kinema.interactive.live import play_live

        truth = (world, world.start_pose()) if args.compare else None
        stats = play_live(session, first, truth=truth, fps=fps, scale=args.scale)
        print(f"{stats['frames']} frames, {stats['mean_ms']:.1f} ms/frame ({stats['fps']:.1f} fps possible)")
        return 0

    frames = args.frames
    if args.actions is None:
        tour = SCRIPTED_TOUR.split()
        n = (frames or 40) - 1
        keys = [tour[i % len(tour)] for i in range(n)]
    else:
        keys = parse_actions(args.actions, (frames - 1) if frames else 10 ** 6)
    if frames is not None:
        if frames < 1:
            raise ValueError(f"--frames must be >= 1, got {frames}")
        keys += ["."] * (frames - 1 - len(keys))
    from tqdm import tqdm

    with tqdm(total=len(keys) + 1, unit="frame", desc="play", dynamic_ncols=True) as bar:
        video = rollout(session, keys, first, size=(w, h), on_frame=bar.update)  # (T, H, W, 3)
    if args.compare:
        video = np.concatenate([video, walk(world, keys, w, h, fps)], axis=2)  # model | ground truth
    from kinema.video import write_video

    meta = {"generator": "kinema play", "model": model.name, "model_source": model.source, "prompt": prompt,
            "seed": args.seed, "scenario": scenario, "actions": " ".join(keys), "steps": session.steps,
            "start": start, "compare": bool(args.compare), "size": [w, h], "play": vars(model.cfg)}
    out = write_video(args.out, video, fps, metadata=meta)
    print(f"wrote {out}: {len(video)} frames{' (model | ground truth)' if args.compare else ''}, "
          f"{session.steps} step(s)/frame")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from kinema.cli.train import name_values, train_config
    from kinema.interactive.data import PlayDataConfig
    from kinema.interactive.model import PlayConfig
    from kinema.interactive.recipe import build_play_run

    weights = name_values(args.key_weight, "--key-weight takes KEY=W (a key and a weight)")
    data = PlayDataConfig(size=args.size, frames=args.frames, fps=args.fps, walker_prob=args.walker_prob,
                          num_videos=args.num_videos, key_weights=weights)
    trainer = build_play_run(args.preset, args.vae, data, train_config(args, args.out),
                             play_cfg=PlayConfig(window=args.window, fps=args.fps, ctx_noise=args.ctx_noise,
                                               ctx_noise_max=args.ctx_noise_max, action_dropout=args.action_dropout,
                                               action_guidance=args.action_guidance, shortcut=args.shortcut,
                                               self_rollout=args.self_rollout,
                                               self_rollout_target=args.self_rollout_target,
                                               carry_rows=args.carry_rows, carry_clips=args.carry_clips,
                                               drift_decay=args.drift_decay, drift_shrink=args.drift_shrink,
                                               gdl=args.gdl,
                                               distill=args.distill,
                                               distill_steps=args.distill_steps,
                                               distill_guidance=args.distill_guidance, bridge=args.bridge,
                                               ego_gain=args.ego_gain, ego_interp=args.ego_interp),
                             resume=args.resume, init_from=args.init_from, teacher=args.teacher,
                             ego_motion=args.ego_motion, refit_ego=args.refit_ego_motion)
    trainer.fit()
    print(f"run directory: {args.out} (export with: kinema play export {args.out} -o kinema-explore)")
    return 0


def run_vae(args: argparse.Namespace) -> int:
    from kinema.cli.train import train_config
    from kinema.interactive.recipe import build_play_vae_run
    from kinema.train.data import DataConfig

    data = DataConfig(source="explore", sizes=(args.size,), frames=(args.frames,), fps=args.fps,
                      num_videos=args.num_videos)
    build_play_vae_run(args.preset, data, train_config(args, args.out), resume=args.resume).fit()
    print(f"run directory: {args.out} (use it with: kinema play train --vae {args.out} ...)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from kinema.interactive.recipe import export_play

    play = {k: v for k, v in (("action_guidance", args.action_guidance), ("ego_gain", args.ego_gain),
                              ("ctx_noise", args.ctx_noise), ("reproject", args.reproject)) if v is not None} or None
    out, size = export_play(args.run_dir, args.out, name=args.name, play=play)
    print(f"wrote {out} ({size / 2 ** 20:.1f} MiB)")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from kinema.interactive.bench import bench_play, format_bench

    model = _load(args.model) if args.model else None
    res = bench_play(model, sizes=args.sizes, steps=args.steps, frames=args.frames, fuse=not args.no_fuse,
                     dit_bf16=args.dit_bf16, action_guidance=args.action_guidance, reproject=args.reproject)
    print("\n".join(format_bench(res)))
    if args.json:
        print(json.dumps(res))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from functools import partial

    from kinema.cli import spelled_out
    from kinema.cli.eval import _finish
    from kinema.interactive.evaluate import evaluate_play, format_report, write_play_report

    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    examples: list = []
    res = evaluate_play(_load(args.model), n=args.n, frames=args.frames, policies=policies, steps=args.steps,
                        ctx_noise=args.ctx_noise, action_guidance=args.action_guidance, ego_gain=args.ego_gain,
                        reproject=args.reproject,
                        seed=args.seed, idm_worlds=args.idm_worlds, examples=examples, first_world=args.first_world)
    print("\n".join(format_report(res)))
    options = argparse.ArgumentParser(add_help=False)
    add_eval_arguments(options)
    command = spelled_out(["kinema", "eval", "play"], args, only=options, policies=policies)
    _finish(args, res, examples, partial(write_play_report, command=command))  # results.json, report, --json
    return 0


def run_idm(args: argparse.Namespace) -> int:
    from kinema.interactive.evaluate import validate_idm

    if args.n < 1:
        raise ValueError(f"-n must be >= 1, got {args.n}")
    res = validate_idm(n=args.n, size=args.size)
    print(f"inverse dynamics on ground truth: {res['accuracy']:.4f} over {res['steps']} clean steps; "
          + ", ".join(f"{k} {a:.3f}" for k, a in res["per_action"].items()))
    if args.json:
        print(json.dumps(res))
    return 0
