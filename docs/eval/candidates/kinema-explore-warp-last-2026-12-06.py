"""The checks behind kinema-explore-warp-last-2026-12-06.md (session 18), re-runnable:

    python docs/eval/candidates/kinema-explore-warp-last-2026-12-06.py truncate T0 [kinema eval play arguments ...]
    python docs/eval/candidates/kinema-explore-warp-last-2026-12-06.py fit [MODEL]
    python docs/eval/candidates/kinema-explore-warp-last-2026-12-06.py step [MODEL]

"truncate": `kinema eval play ...` with every play frame's flow started at t = T0 instead of 1 (a truncated bridge,
as SDEdit starts part way: the previous frame moved by its key plus T0 x bridge x noise, then the play schedule
scaled to run from T0 to 0); a prototype, so it patches kinema.interactive.session rather than adding a setting.
"fit": the ego motion (zoom, dx per key) fitted as `kinema play train --ego-motion` fits it (zoom and shift
together) and constrained (W and S zoom only, turns and strafes shift only) on 8 and 32 training batches, judged on
3 scripted and 3 random evaluation walks of 40 steps: PSNR of each true frame moved one step by its key (per key),
and of the warp-only rollout at horizons 8 and 32, at ego gain 1 and 2. "step": on the same walks, one step from
the true past, PSNR per key of the model's frame (kinema.interactive.session.teacher_forced, the model's play
settings), of the true frame moved by its key (the model's saved motion and gain) and of the true frame repeated;
and the VAE's reconstruction. One thread, fixed seeds.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch

torch.set_num_threads(1)
SHIPPED = "src/kinema/assets/kinema-explore"


def truncate(t0: float, argv: list[str]) -> int:
    import kinema.interactive.session as S
    from kinema.cli import main

    sched, bridge = S.sampling_schedule, S.bridge_start
    S.sampling_schedule = lambda steps, shift=1.0: sched(steps, shift) * t0  # every frame: t0 -> 0
    S.bridge_start = lambda cfg, prev, actions, eps: bridge(cfg, prev, actions, eps * t0)  # the point at t0
    return main(["eval", "play", *argv])


def _pairs(m, seed: int, batches: int):
    from kinema.interactive.data import ExploreActionData, PlayDataConfig
    from kinema.interactive.recipe import walk_latent_pairs

    with torch.no_grad():
        return walk_latent_pairs(m.vae, ExploreActionData(PlayDataConfig(), 8, seed), batches)


def _constrained(prev, nxt, acts) -> tuple:
    from kinema.interactive.model import EGO_SHIFT, EGO_ZOOM, KEYS, ego_warp

    out = []
    for k, key in enumerate(KEYS):
        sel = acts == k
        if key == "." or not bool(sel.any()):
            out.append((1.0, 0.0))
            continue
        a, b = prev[sel].float()[:, :, None], nxt[sel].float()

        def err(z: float, dx: float) -> float:
            return float((ego_warp(a, torch.tensor([[[z, dx]]]).expand(len(a), 1, 2))[:, :, 0] - b).square().mean())

        grid = ([(float(z), 0.0) for z in torch.linspace(*EGO_ZOOM, 181)] if key in "WS" else
                [(1.0, float(d)) for d in torch.linspace(-EGO_SHIFT, EGO_SHIFT, 241)])
        z, dx = min(grid, key=lambda zd: err(*zd))
        out.append((round(z, 4), round(dx, 4)))
    return tuple(out)


def _walks(m):
    """(i, world, keys, truth uint8 (T, H, W, 3), actions (1, T - 1), latents (1, C, T, h, w)) of the first 3 scripted
    and 3 random evaluation walks of 40 steps (kinema eval play's worlds)."""
    from kinema.interactive.data import action_sequence, walk
    from kinema.interactive.evaluate import POLICIES
    from kinema.interactive.model import KEYS
    from kinema.train.data import EVAL_SEED_START
    from kinema.worlds.explore import SCENARIOS, make_world

    for policy in ("scripted", "random"):
        for i in range(3):
            ws = EVAL_SEED_START + 1000 * POLICIES.index(policy) + i
            world = make_world(SCENARIOS[ws % len(SCENARIOS)], ws)
            keys = action_sequence(policy, world, 40, m.cfg.fps, np.random.default_rng(ws))
            gt = walk(world, keys, 64, 64, m.cfg.fps)
            with torch.no_grad():
                z = m.encode_frames(gt)  # (1, C, T, h, w)
            yield i, world, keys, gt, torch.tensor([[KEYS.index(k) for k in keys]]), z


def fit(model: str = SHIPPED) -> None:
    from kinema.eval.fidelity import psnr
    from kinema.interactive.model import KEYS, ego_move, fit_ego_motion
    from kinema.interactive.recipe import load_play

    m = load_play(model)
    fits = {"saved": m.cfg.ego_motion}
    for seed, batches in ((0, 8), (35, 8), (0, 32)):
        p = _pairs(m, seed, batches)
        fits[f"joint s{seed} b{batches}"] = fit_ego_motion(*p)
        fits[f"constr s{seed} b{batches}"] = _constrained(*p)
    for name, f in fits.items():
        print(f"{name:16s}", " ".join(f"{k} {z:.4f} {d:+.3f}" for k, (z, d) in zip(KEYS, f)))
    res: dict = {name: defaultdict(list) for name in fits}
    for _, _, keys, gt, acts, z in _walks(m):
        with torch.no_grad():
            for name, f in fits.items():
                for g in (1.0, 2.0):
                    cfg = replace(m.cfg, ego_motion=f, ego_gain=g)
                    one = m.decode_frames(ego_move(cfg, z[:, :, :-1], acts))  # each true frame, one step
                    for j, k in enumerate(keys):
                        res[name][(g, k)].append(psnr(one[j], gt[j + 1]))
                    zz = [z[:, :, :1]]
                    for j in range(len(keys)):
                        zz.append(ego_move(cfg, zz[-1], acts[:, j:j + 1]))
                    roll = m.decode_frames(torch.cat(zz, dim=2))
                    for h in (8, 32):
                        res[name][(g, f"h{h}")].append(psnr(roll[h], gt[h]))
    for name, d in res.items():
        for g in (1.0, 2.0):
            one = {k: np.mean(v) for (gg, k), v in d.items() if gg == g and k in KEYS}
            everything = np.mean([x for (gg, k), v in d.items() if gg == g and k in KEYS for x in v])
            print(f"{name:16s} gain {g:g}: one step {everything:.2f} dB (" + " ".join(f"{k} {v:.2f}" for k, v in
                  one.items()) + f"), warp-only rollout h8 {np.mean(d[(g, 'h8')]):.2f} h32 {np.mean(d[(g, 'h32')]):.2f}")


def step(model: str = SHIPPED) -> None:
    from kinema.eval.fidelity import psnr
    from kinema.interactive.data import scene_caption
    from kinema.interactive.model import ego_move
    from kinema.interactive.recipe import load_play
    from kinema.interactive.session import teacher_forced

    m = load_play(model)
    res: dict = defaultdict(lambda: defaultdict(list))
    for i, world, keys, gt, acts, z in _walks(m):
        with torch.no_grad():
            made = {"model": m.decode_frames(teacher_forced(m, gt, keys, scene_caption(world, m.cfg.fps)["en"][
                        "detailed"], seed=i)),
                    "warp": m.decode_frames(ego_move(m.cfg, z[:, :, :-1], acts)) if m.cfg.ego_motion else None,
                    "repeat": m.decode_frames(z[:, :, :-1]), "VAE": m.decode_frames(z[:, :, 1:])}
        for name, frames in made.items():
            for j, k in enumerate(keys):
                if frames is not None:
                    res[name][k].append(psnr(frames[j], gt[j + 1]))
    for name, d in res.items():
        every = np.mean([x for v in d.values() for x in v])
        print(f"{name:7s} all {every:.2f} dB (" + " ".join(f"{k} {np.mean(v):.2f}" for k, v in d.items()) + ")")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "truncate":
        sys.exit(truncate(float(sys.argv[2]), sys.argv[3:]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "fit":
        fit(*sys.argv[2:3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "step":
        step(*sys.argv[2:3])
    else:
        sys.exit(__doc__)
