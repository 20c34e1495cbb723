"""`kinema eval play`: how well a play model simulates the explore world it was trained on.

For evaluation worlds (seeds >= EVAL_SEED_START, never trained on) and two action policies ("scripted": a fixed tour
of every key; "random": random runs of keys), the model starts from the ground-truth first view and follows the same
actions as the ground-truth renderer. Measured:
- PSNR and SSIM of frame h against the ground truth at horizons h = 1, 8, 32, 128, 512; beside them the
  repeat-the-last-frame baseline (the start view, repeated) and the VAE's own reconstruction of frame h (the ceiling).
  For a model with ego motion, also the warp-last baseline: the start view's latent moved by each key's fitted camera
  motion (at the session's ego gain) frame after frame and decoded, with no DiT at all: exactly where each of the
  model's frames starts, so the model's gain over it is what the DiT adds to a global zoom or shift.
- Action following: the closed-form inverse-dynamics estimator (idm.py) reads the action of every step of the rollout;
  accuracy over the steps where the ground-truth camera moved exactly as commanded (not blocked by a wall). The same
  estimator on the ground truth is reported beside it, and on the ground truth through the model's VAE (each frame
  encoded and decoded alone: what the judge can read at best from this model's frames); validate_idm checks it on
  separate worlds (>= 95%).
  Beside it, following from the true past: each frame made by one play step from the ground truth's past (the
  Session commits the true frame instead of its own, session.teacher_forced) and judged against the true previous
  frame through the VAE: what the model's step does apart from the drift of its rollout.
  The baseline (a frozen picture) reads as "." everywhere. Beside the exact accuracy: the direction accuracy, with
  keys that move the view the same way counted as one (A turn and Q strafe both shift the picture right, D and E
  left; W, S and . stay apart): a model that moves the view the right way but turns where it should strafe scores
  there, not in the exact accuracy; and the model's confusions ("A->Q": steps the judge read as Q where A was pressed).
- Loop closure: 360 / (turn per frame) turn actions; the last frame against the first.
- Stability over the whole rollout: sharpness (mean |Laplacian|) and motion (mean |frame difference|) of the model's
  frames divided by the ground truth's, early (first 32 frames) and late (last 64): a collapse to blur shows as a
  falling sharpness ratio, a frozen picture as a motion ratio near 0. Colour drift: the distance between the mean
  colour (RGB, 0-255) of each model frame and of its true frame, early and late, beside repeat-last's (the first true
  frame held): a picture that collapses into one saturated colour drifts far beyond repeat-last; grey does not.
- Intervals ("intervals" per policy): 95% percentile-bootstrap intervals over the evaluation worlds (kinema.eval.stats,
  fixed seed) of the exact and direction following and of the PSNR gain over repeat-last at each horizon (model minus
  baseline in the same world, so the comparison is paired). "Clearly beats repeat-last" means the gain's interval lies
  above 0. With a few worlds they are wide: that is how much the mean can move with another draw of worlds.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from kinema.eval.fidelity import psnr, sharpness, ssim
from kinema.interactive.data import action_sequence, random_runs, scene_caption, walk
from kinema.interactive.idm import KEYS, camera_for, estimate_actions, estimate_steps
from kinema.interactive.model import format_ego_motion

HORIZONS = (1, 8, 32, 128, 512)
ROW_LABELS = {"gt": "truth", "model": "model", "warp": "warp-last"}  # the contact sheet's rows per example walk
POLICIES = ("scripted", "random")
# Which way each key moves the view (turning and strafing the same way shift the picture the same way).
DIRECTION = {"W": "forward", "S": "back", "A": "left", "Q": "left", "D": "right", "E": "right", ".": "still"}


def follow_scores(est: list[str], truth: np.ndarray, clean: np.ndarray) -> tuple[float, float, Counter]:
    """(exact accuracy, direction accuracy, confusions) of estimated actions against the pressed ones, over the clean
    steps. Confusions count "pressed->read" over the clean steps where the two differ."""
    est_a = np.array(est)
    exact = (est_a == truth)[clean]
    direction = np.array([DIRECTION[e] == DIRECTION[t] for e, t in zip(est_a, truth)])[clean]
    confusions = Counter(f"{t}->{e}" for t, e, c in zip(truth, est_a, clean) if c and t != e)
    return float(exact.mean()), float(direction.mean()), confusions


def direction_by_key(est: list[str], truth: np.ndarray, clean: np.ndarray,
                     out: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """{pressed key: [steps read in its direction, clean steps]}, added to `out` when given (to pool over worlds)."""
    out = {} if out is None else out
    for e, t, c in zip(est, truth, clean):
        if c:
            right_total = out.setdefault(str(t), [0, 0])
            right_total[0] += int(DIRECTION[e] == DIRECTION[t])
            right_total[1] += 1
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Image metrics (uint8 frames; psnr, ssim and sharpness are kinema.eval.fidelity's)
# ----------------------------------------------------------------------------------------------------------------------


def colour_drift(frames: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Distance between the mean colours of frames and truth (both uint8 (T, H, W, 3)), per frame: (T,) in 0-255
    units (the Euclidean norm over R, G, B of the difference of the frame means)."""
    made, true = (np.asarray(x, np.float64).mean(axis=(1, 2)) for x in (frames, truth))  # (T, 3) each
    return np.linalg.norm(made - true, axis=-1)


def motion(frames: np.ndarray) -> np.ndarray:
    """Mean |frame difference| per step: (T, H, W, 3) uint8 -> (T - 1,)."""
    return np.abs(np.diff(frames.astype(np.float64), axis=0)).mean(axis=(1, 2, 3))


# ----------------------------------------------------------------------------------------------------------------------
# Ground truth helpers
# ----------------------------------------------------------------------------------------------------------------------


def clean_steps(world, keys: list[str], fps: float) -> list[bool]:
    """Per step: did the ground-truth camera move exactly as commanded (a translation not shortened by a wall)?"""
    from kinema.worlds.explore import ACTIONS, MOVE_SPEED

    pose, out = world.start_pose(), []
    for k in keys:
        new = world.step(pose, k, 1.0 / fps)
        a = ACTIONS[k]
        moved = math.hypot(new.x - pose.x, new.y - pose.y)
        out.append(not (a.forward or a.strafe) or abs(moved - MOVE_SPEED / fps) < 1e-6)
        pose = new
    return out


def validate_idm(n: int = 30, frames: int = 41, size: tuple[int, int] = (64, 64), fps: float = 10.0,
                 seed: int = 0) -> dict[str, Any]:
    """Accuracy of the inverse-dynamics estimator on ground-truth walks of evaluation worlds (random key runs),
    over clean steps: {"accuracy", "per_action": {key: accuracy}, "steps", "confusions"}."""
    from kinema.train.data import EVAL_SEED_START
    from kinema.worlds.explore import SCENARIOS, make_world

    rng = np.random.default_rng(seed)
    total, right, confusions = Counter(), Counter(), Counter()
    for i in range(n):
        world_seed = EVAL_SEED_START + 500_000 + i  # away from evaluate_play's worlds
        scenario = SCENARIOS[world_seed % len(SCENARIOS)]
        world = make_world(scenario, world_seed)
        keys = random_runs(frames - 1, rng, max_run=5)
        est = estimate_actions(walk(world, keys, *size, fps), camera_for(scenario, *size, fps))
        for k, e, ok in zip(keys, est, clean_steps(world, keys, fps)):
            if ok:
                total[k] += 1
                right[k] += k == e
                if k != e:
                    confusions[f"{k}->{e}"] += 1
    steps = sum(total.values())
    return {"accuracy": sum(right.values()) / max(steps, 1), "steps": steps,
            "per_action": {k: right[k] / total[k] for k in KEYS if total[k]}, "confusions": dict(confusions)}


# ----------------------------------------------------------------------------------------------------------------------
# Evaluating a model
# ----------------------------------------------------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate_play(model, *, n: int = 2, frames: int = 513, policies: tuple[str, ...] = POLICIES,
                  steps: int | None = None, ctx_noise: float | None = None, action_guidance: float | None = None,
                  ego_gain: float | None = None, reproject: float | None = None, seed: int = 0, idm_worlds: int = 30,
                  examples: list | None = None, first_world: int = 0, progress: bool = True) -> dict[str, Any]:
    """Run the evaluation (module docstring) on a PlayModel; returns one JSON-serialisable dict. With `examples` (a
    list), the first world of each policy is appended to it as {"policy", "scenario", "keys", "gt", "model", "warp"}
    (uint8 (T, H, W, 3) frames; "warp": the warp-last baseline, None without ego motion) for write_play_report's
    contact sheet. first_world: skip that many of each policy's evaluation worlds (evaluate worlds first_world ..
    first_world + n - 1: a held-out set for settings chosen on the first ones). ego_gain: PlayConfig.ego_gain for
    every session (default: the model's; models with ego motion); reproject: PlayConfig.reproject (default: the
    model's)."""
    from kinema.eval.stats import BOOT_SEED, mean_ci
    from kinema.interactive.bench import cpu_name
    from kinema.interactive.session import Session, rollout, teacher_forced
    from kinema.train.data import EVAL_SEED_START
    from kinema.worlds.explore import SCENARIOS, TURN_SPEED, make_world

    if n < 1 or frames < 2:
        raise ValueError(f"n must be >= 1 and frames >= 2, got n={n}, frames={frames}")
    if not 0 <= first_world <= 900 - n:  # policies' worlds are 1000 seeds apart; the loop-closure worlds at 900
        raise ValueError(f"first_world must be in [0, {900 - n}], got {first_world}")
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        raise ValueError(f"unknown policy {bad[0]!r}; choose from: {', '.join(POLICIES)}")
    fps, (w, h) = model.cfg.fps, model.size
    horizons = [k for k in HORIZONS if k < frames]
    steps = steps or model.cfg.steps
    ctx_noise = model.cfg.ctx_noise if ctx_noise is None else ctx_noise
    guide = model.cfg.action_guidance if action_guidance is None else action_guidance
    play = {"steps": steps, "ctx_noise": ctx_noise, "action_guidance": guide,  # every Session's settings
            "reproject": model.cfg.reproject if reproject is None else float(reproject)}
    if model.cfg.ego_motion is not None:  # models without ego motion have no gain (Session refuses one)
        play["ego_gain"] = model.cfg.ego_gain if ego_gain is None else float(ego_gain)
    result: dict[str, Any] = {"model": model.name, **play, "n": n, "first_world": first_world, "frames": frames,
                              "size": f"{w}x{h}", "fps": fps, "horizons": horizons, "device": cpu_name(),
                              "policies": {}}
    if model.cfg.ego_motion is not None:  # each key's (zoom, dx) as fitted, before the gain; KEYS' order
        result["ego_motion"] = [[float(z), float(dx)] for z, dx in model.cfg.ego_motion]
    warps = model.cfg.ego_motion is not None  # the warp-last baseline needs a model's fitted key motions
    t_gen, n_gen = 0.0, 0
    turns = round(360.0 / (TURN_SPEED / fps))  # the loop-closure rollouts: a full turn in each scenario
    bar = tqdm(total=len(policies) * n * frames + len(SCENARIOS) * (turns + 1), unit="frame", disable=not progress,
               desc=f"eval play ({model.name})", dynamic_ncols=True)
    for policy in policies:
        pi = POLICIES.index(policy)  # each policy has its own worlds, however many policies are evaluated
        names = ("psnr", "ssim", "base_psnr", "base_ssim", "vae_psnr") + (("warp_psnr", "warp_ssim") if warps else ())
        acc: dict[str, list] = {k: [] for k in names}
        per_h = {name: {k: [] for k in horizons} for name in acc}
        follow, follow_gt, follow_vae, follow_base, direction_warp = [], [], [], [], []
        direction, direction_gt, direction_vae, follow_tf, direction_tf = [], [], [], [], []
        confusions: Counter = Counter()
        by_key: dict[str, dict[str, list[int]]] = {"rollout": {}, "tf": {}}  # pooled counts per pressed key
        sharp_early, sharp_late, motion_early, motion_late = [], [], [], []
        colour_early, colour_late, colour_early_base, colour_late_base = [], [], [], []
        for i in range(n):
            world_seed = EVAL_SEED_START + 1000 * pi + first_world + i
            scenario = SCENARIOS[world_seed % len(SCENARIOS)]
            world = make_world(scenario, world_seed)
            rng = np.random.default_rng(world_seed)
            keys = action_sequence(policy, world, frames - 1, fps, rng)
            gt = walk(world, keys, w, h, fps)  # (T, H, W, 3)
            prompt = scene_caption(world, fps)["en"]["detailed"]
            t0 = time.perf_counter()
            gen = rollout(Session(model, prompt, seed=seed + i, **play), keys, gt[0], on_frame=bar.update)
            t_gen, n_gen = t_gen + time.perf_counter() - t0, n_gen + frames
            one = model.decode_frames(teacher_forced(model, gt, keys, prompt, seed=seed + i, **play))  # (T-1, ...)
            recon = _vae_recon(model, gt)  # every frame through the VAE alone: the model's ceiling
            warp = _warp_last(model, gt[0], keys, play.get("ego_gain", 1.0)) if warps else None  # (T, H, W, 3)
            if examples is not None and i == 0:
                examples.append({"policy": policy, "scenario": scenario, "keys": keys, "gt": gt, "model": gen,
                                 "warp": warp})
            for k in horizons:
                per_h["psnr"][k].append(psnr(gen[k], gt[k]))
                per_h["ssim"][k].append(ssim(gen[k], gt[k]))
                per_h["base_psnr"][k].append(psnr(gt[0], gt[k]))
                per_h["base_ssim"][k].append(ssim(gt[0], gt[k]))
                per_h["vae_psnr"][k].append(psnr(recon[k], gt[k]))
                if warps:
                    per_h["warp_psnr"][k].append(psnr(warp[k], gt[k]))
                    per_h["warp_ssim"][k].append(ssim(warp[k], gt[k]))
            cam = camera_for(scenario, w, h, fps)
            clean = np.array(clean_steps(world, keys, fps))
            truth = np.array(keys)
            est, est_tf = estimate_actions(gen, cam), estimate_steps(recon[:-1], one, cam)
            exact, direct, conf = follow_scores(est, truth, clean)
            exact_gt, direct_gt, _ = follow_scores(estimate_actions(gt, cam), truth, clean)
            exact_vae, direct_vae, _ = follow_scores(estimate_actions(recon, cam), truth, clean)
            exact_tf, direct_tf, _ = follow_scores(est_tf, truth, clean)
            direction_by_key(est, truth, clean, by_key["rollout"])
            direction_by_key(est_tf, truth, clean, by_key["tf"])
            follow_tf.append(exact_tf)
            direction_tf.append(direct_tf)
            follow.append(exact)
            follow_gt.append(exact_gt)
            follow_vae.append(exact_vae)
            direction.append(direct)
            direction_gt.append(direct_gt)
            direction_vae.append(direct_vae)
            confusions.update(conf)
            follow_base.append(float((truth == ".")[clean].mean()))  # a frozen picture reads as "." (no-op)
            if warps:
                direction_warp.append(follow_scores(estimate_actions(warp, cam), truth, clean)[1])
            early, late = slice(0, min(32, frames)), slice(max(0, frames - 64), frames)
            sg, st, mg, mt = sharpness(gen), sharpness(gt), motion(gen), motion(gt)
            sharp_early.append(sg[early].mean() / max(st[early].mean(), 1e-9))
            sharp_late.append(sg[late].mean() / max(st[late].mean(), 1e-9))
            motion_early.append(mg[early][:-1].mean() / max(mt[early][:-1].mean(), 1e-9) if frames > 2 else 1.0)
            motion_late.append(mg[late.start:].mean() / max(mt[late.start:].mean(), 1e-9))
            cg, cb = colour_drift(gen, gt), colour_drift(np.broadcast_to(gt[:1], gt.shape), gt)
            colour_early.append(cg[early].mean())
            colour_late.append(cg[late].mean())
            colour_early_base.append(cb[early].mean())
            colour_late_base.append(cb[late].mean())
        rng = np.random.default_rng(BOOT_SEED)
        gain = {str(k): mean_ci([a - b for a, b in zip(per_h["psnr"][k], per_h["base_psnr"][k])], rng)
                for k in horizons}
        gain_warp = {str(k): mean_ci([a - b for a, b in zip(per_h["psnr"][k], per_h["warp_psnr"][k])], rng)
                     for k in horizons} if warps else None
        result["policies"][policy] = {
            **{name: {str(k): _mean(v[k]) for k in horizons} for name, v in per_h.items()},
            "intervals": {"psnr_gain": gain, "psnr_gain_warp": gain_warp, "action_accuracy": mean_ci(follow, rng),
                          "direction_accuracy": mean_ci(direction, rng),
                          "action_accuracy_tf": mean_ci(follow_tf, rng),
                          "direction_accuracy_tf": mean_ci(direction_tf, rng)},
            "action_accuracy": _mean(follow), "action_accuracy_gt": _mean(follow_gt),
            "action_accuracy_vae": _mean(follow_vae), "action_accuracy_baseline": _mean(follow_base),
            "direction_accuracy": _mean(direction), "direction_accuracy_gt": _mean(direction_gt),
            "direction_accuracy_vae": _mean(direction_vae), "direction_accuracy_warp": _mean(direction_warp),
            "action_accuracy_tf": _mean(follow_tf), "direction_accuracy_tf": _mean(direction_tf),
            "confusions": dict(confusions.most_common()),
            "direction_by_key": {k: {"rollout": by_key["rollout"][k][0] / by_key["rollout"][k][1],
                                     "tf": by_key["tf"][k][0] / by_key["tf"][k][1], "steps": by_key["rollout"][k][1]}
                                 for k in KEYS if k in by_key["rollout"]},
            "stability": {"sharpness_ratio_early": _mean(sharp_early), "sharpness_ratio_late": _mean(sharp_late),
                          "motion_ratio_early": _mean(motion_early), "motion_ratio_late": _mean(motion_late),
                          "colour_drift_early": _mean(colour_early), "colour_drift_late": _mean(colour_late),
                          "colour_drift_early_repeat": _mean(colour_early_base),
                          "colour_drift_late_repeat": _mean(colour_late_base)},
        }
    result["loop_closure"] = _loop_closure(model, play, seed, turns, bar.update)
    bar.close()
    result["ms_per_frame"] = 1e3 * t_gen / max(n_gen, 1)
    result["idm_validation"] = validate_idm(n=idm_worlds, size=(w, h), fps=fps) if idm_worlds > 0 else None
    return result


def _warp_last(model, first: np.ndarray, keys: list[str], gain: float) -> np.ndarray:
    """The warp-last baseline, uint8 (1 + len(keys), H, W, 3): frame first (uint8 (H, W, 3)) encoded, then moved by
    each key's fitted ego motion with W's and S's zoom raised to `gain` (PlayConfig.ego_motion, ego_move) one frame
    after another, every latent decoded: where each play frame starts, with no DiT."""
    from dataclasses import replace

    import torch

    from kinema.interactive.model import ego_move

    cfg = replace(model.cfg, ego_gain=float(gain))
    z = [model.encode_frames(np.asarray(first)[None])]  # (1, C, 1, h, w)
    with torch.no_grad():
        for key in keys:
            z.append(ego_move(cfg, z[-1], torch.tensor([[KEYS.index(key)]])))  # idm.KEYS: the model's order
    return model.decode_frames(torch.cat(z, dim=2))


def _vae_recon(model, frames: np.ndarray) -> np.ndarray:
    """Each frame encoded and decoded alone by the model's VAE: what the model could reproduce at best."""
    return model.decode_frames(model.encode_frames(frames))


def _loop_closure(model, play: dict[str, Any], seed: int, turns: int, on_frame) -> dict[str, Any]:
    """Turn left all the way round in an evaluation world: last frame vs first (the model's and the truth's)."""
    from kinema.interactive.session import Session, rollout
    from kinema.train.data import EVAL_SEED_START
    from kinema.worlds.explore import SCENARIOS, make_world

    fps, (w, h) = model.cfg.fps, model.size
    out = []
    for scenario in SCENARIOS:
        world_seed = EVAL_SEED_START + 900 + SCENARIOS.index(scenario)
        world = make_world(scenario, world_seed)
        gt = walk(world, ["A"] * turns, w, h, fps)
        gen = rollout(Session(model, scene_caption(world, fps)["en"]["detailed"], seed=seed, **play),
                      ["A"] * turns, gt[0], on_frame=on_frame)
        half = turns // 2
        out.append((psnr(gen[-1], gen[0]), psnr(gt[-1], gt[0]), psnr(gen[-1], gt[-1]), psnr(gen[half], gt[half])))
    a = np.array(out)
    return {"turns": turns, "psnr_last_vs_first": float(a[:, 0].mean()), "gt_psnr_last_vs_first": float(a[:, 1].mean()),
            "psnr_last_vs_gt": float(a[:, 2].mean()), "psnr_halfway_vs_gt": float(a[:, 3].mean())}


def _interval(d: dict | None, lead: str = "") -> str:
    """'[lo, hi]' of a kinema.eval.stats interval, '' when there is none (no intervals, or one world)."""
    if not d or d["n"] < 2 or d["ci95"][0] is None:
        return ""
    return f"{lead}[{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}]"


def _vae(r: dict, key: str) -> str:
    """', through the VAE 0.xxx' (results written before that measure existed have none)."""
    return f", through the VAE {r[key]:.3f}" if r.get(key) is not None else ""


def _warp(r: dict) -> str:
    """', warp-last 0.xxx' (models without ego motion and older results have none)."""
    return f", warp-last {r['direction_accuracy_warp']:.3f}" if r.get("direction_accuracy_warp") is not None else ""


def _ego(res: dict[str, Any]) -> str:
    """', ego gain G' where it is not 1 (PlayConfig.ego_gain; older results have none)."""
    return f", ego gain {res['ego_gain']:g}" if res.get("ego_gain", 1.0) != 1.0 else ""


def _reproject(res: dict[str, Any]) -> str:
    """', reprojected R' where frames were pulled back towards their pictures' encodings (PlayConfig.reproject)."""
    return f", reprojected {res['reproject']:g}" if res.get("reproject") else ""


def _first(res: dict[str, Any]) -> str:
    """' (from world K)' where the evaluation skipped the first K worlds of each policy."""
    return f" (from world {res['first_world']})" if res.get("first_world") else ""


def format_report(res: dict[str, Any]) -> list[str]:
    """Human-readable lines of an evaluate_play result."""
    lines = [f"play eval: {res['model']}, {res['steps']} step(s)/frame, context noise {res['ctx_noise']}, action "
             f"guidance {res.get('action_guidance', 1.0)}{_ego(res)}{_reproject(res)}, {res['n']} "
             f"worlds{_first(res)} x {res['frames']} frames per policy, {res['size']}, {res['ms_per_frame']:.1f} "
             f"ms/frame, {res['device']}"]
    if res.get("ego_motion"):  # what every frame starts from moves results; older results have none
        lines.append(f"  ego motion (zoom, dx latent px), as fitted: {format_ego_motion(res['ego_motion'])}")
    for policy, r in res["policies"].items():
        lines.append(f"  {policy}: horizon  " + "  ".join(f"{k:>6s}" for k in r["psnr"]))
        for name, label in (("psnr", "PSNR dB"), ("base_psnr", "repeat-last PSNR"), ("warp_psnr", "warp-last PSNR"),
                            ("vae_psnr", "VAE ceiling"), ("ssim", "SSIM"), ("base_ssim", "repeat-last SSIM"),
                            ("warp_ssim", "warp-last SSIM")):
            if name not in r:  # models without ego motion (and older results) have no warp-last baseline
                continue
            lines.append(f"    {label:18s}" + "  ".join(f"{v:6.3f}" if "ssim" in name else f"{v:6.2f}"
                                                        for v in r[name].values()))
        ci = r.get("intervals")  # results written before the intervals existed have none
        if ci:
            gains = ci["psnr_gain"]
            cis = ", ".join(f"{h} {_interval(g)}" for h, g in gains.items() if _interval(g))
            lines.append(f"    {'gain vs repeat-last':18s}" + "  ".join(f"{g['mean']:+6.2f}" for g in gains.values())
                         + (f"   95% CI: {cis}" if cis else ""))
            if ci.get("psnr_gain_warp"):
                gw = ci["psnr_gain_warp"]
                cis = ", ".join(f"{h} {_interval(g)}" for h, g in gw.items() if _interval(g))
                lines.append(f"    {'gain vs warp-last':18s}" + "  ".join(f"{g['mean']:+6.2f}" for g in gw.values())
                             + (f"   95% CI: {cis}" if cis else ""))
        lines.append(f"    action following {r['action_accuracy']:.3f}{_interval(ci and ci['action_accuracy'], ' ')} "
                     f"(ground truth {r['action_accuracy_gt']:.3f}{_vae(r, 'action_accuracy_vae')}, repeat-last "
                     f"{r['action_accuracy_baseline']:.3f})")
        top = ", ".join(f"{k} {v}" for k, v in list(r["confusions"].items())[:4]) or "none"
        lines.append(f"    direction following {r['direction_accuracy']:.3f}"
                     f"{_interval(ci and ci['direction_accuracy'], ' ')} (ground truth "
                     f"{r['direction_accuracy_gt']:.3f}{_vae(r, 'direction_accuracy_vae')}{_warp(r)}); most common "
                     f"confusions: {top}")
        if r.get("action_accuracy_tf") is not None:  # results written before this measure existed have none
            lines.append(f"    from the true past (one step each): exact {r['action_accuracy_tf']:.3f}"
                         f"{_interval(ci and ci.get('action_accuracy_tf'), ' ')}, direction "
                         f"{r['direction_accuracy_tf']:.3f}{_interval(ci and ci.get('direction_accuracy_tf'), ' ')}")
        if r.get("direction_by_key"):  # results written before this measure existed have none
            lines.append("    direction by key (own rollout / from the true past, steps): " + ", ".join(
                f"{k} {d['rollout']:.2f}/{d['tf']:.2f} ({d['steps']})" for k, d in r["direction_by_key"].items()))
        s = r["stability"]
        lines.append(f"    sharpness vs truth {s['sharpness_ratio_early']:.2f} early, {s['sharpness_ratio_late']:.2f} "
                     f"late; motion vs truth {s['motion_ratio_early']:.2f} early, {s['motion_ratio_late']:.2f} late")
        if "colour_drift_late" in s:  # results written before this measure existed have none
            lines.append(f"    colour drift from truth (mean RGB, 0-255) {s['colour_drift_early']:.1f} early, "
                         f"{s['colour_drift_late']:.1f} late (repeat-last {s['colour_drift_early_repeat']:.1f}, "
                         f"{s['colour_drift_late_repeat']:.1f})")
    lc = res["loop_closure"]
    lines.append(f"  loop closure ({lc['turns']} x A): last vs first {lc['psnr_last_vs_first']:.2f} dB (truth "
                 f"{lc['gt_psnr_last_vs_first']:.2f}), last vs truth {lc['psnr_last_vs_gt']:.2f} dB")
    v = res.get("idm_validation")
    if v:
        lines.append(f"  inverse dynamics on ground truth: {v['accuracy']:.3f} over {v['steps']} steps ("
                     + ", ".join(f"{k} {a:.2f}" for k, a in v["per_action"].items()) + ")")
    return lines


def write_play_report(res: dict[str, Any], out_dir, examples: list | None = None, command: str | None = None) -> Path:
    """report.md (the numbers), play_psnr.png (PSNR by horizon against repeat-last, warp-last and the VAE ceiling)
    and, with examples, play_examples.png (truth, model and, with ego motion, warp-last rows at frames 0, 1, 2, 4, 8,
    ...) in out_dir."""
    from kinema.eval.report import _figure
    from kinema.video import contact_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policies = list(res["policies"])
    fig, axes = _figure(4.2 * len(policies), 3.4, ncols=len(policies))
    for ax, policy in zip(axes, policies):
        r = res["policies"][policy]
        hs = [int(k) for k in r["psnr"]]
        for key, label, style in (("psnr", "model", "o-"), ("base_psnr", "repeat the last frame", "s--"),
                                  ("warp_psnr", "warp the last frame by the key (no DiT)", "d-."),
                                  ("vae_psnr", "VAE ceiling", "^:")):
            if key not in r:
                continue
            ax.plot(hs, [r[key][str(k)] for k in hs], style, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("horizon (frames)")
        ax.set_ylabel("PSNR vs ground truth (dB)")
        ax.set_title(f"{policy} actions: exact {100 * r['action_accuracy']:.0f}%, direction "
                     f"{100 * r['direction_accuracy']:.0f}%", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{res['model']}, {res['steps']} step(s)/frame, context noise {res['ctx_noise']}, action guidance "
                 f"{res.get('action_guidance', 1.0)}{_ego(res)}{_reproject(res)}, {res['n']} worlds{_first(res)} "
                 f"per policy, {res['device']}", fontsize=9)
    fig.savefig(out / "play_psnr.png")
    images = "![PSNR by horizon](play_psnr.png)\n"
    if examples:
        T = min(len(ex["gt"]) for ex in examples)
        pick = [0] + [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if k < T]
        cells, labels = [], []
        for ex in examples:
            for row in ("gt", "model") + (("warp",) if ex.get("warp") is not None else ()):
                for j, k in enumerate(pick):
                    cells.append(np.kron(ex[row][k], np.ones((2, 2, 1), np.uint8)))  # 2x: readable at 64x64
                    name = f"{ex['policy']} {ROW_LABELS[row]}"
                    labels.append(f"{name} t=0" if j == 0 else f"t={k} {ex['keys'][k - 1]}")
        Image.fromarray(contact_sheet(cells, cols=len(pick), labels=labels)).save(out / "play_examples.png")
        images += ("\n![truth, model and (with ego motion) warp-last rows of one world per policy; each label: the "
                   "frame and the key that led to it](play_examples.png)\n")
    text = (f"# Interactive play evaluation: {res['model']}\n\n"
            f"Command: `{command or 'kinema eval play'}` (kinema.interactive.evaluate: module docstring). Evaluation "
            "worlds never trained on; the model starts from the ground-truth first view and follows the same keys as "
            "the renderer.\n\n```\n" + "\n".join(format_report(res)) + "\n```\n\n" + images)
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    return path
