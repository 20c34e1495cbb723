"""The checks behind kinema-explore-bridge-2026-12-05.md (session 10), re-runnable:

    python docs/eval/candidates/kinema-explore-checks-2026-12-05.py judge-blur      # the judge on blurred ground truth
    python docs/eval/candidates/kinema-explore-checks-2026-12-05.py judge-turns     # partial turns: read as strafes?
    python docs/eval/candidates/kinema-explore-checks-2026-12-05.py key-ranking [MODEL]  # the DiT's loss picks the key?

One thread (OMP_NUM_THREADS=1), evaluation worlds only (seeds >= EVAL_SEED_START), fixed seeds.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from kinema.interactive.data import random_runs, scene_caption, walk
from kinema.interactive.evaluate import clean_steps, follow_scores, sharpness
from kinema.interactive.idm import camera_for, estimate_actions
from kinema.interactive.model import KEYS, NULL_ACTION, START
from kinema.train.data import EVAL_SEED_START
from kinema.worlds.explore import SCENARIOS, Pose, make_world

torch.set_num_threads(1)


def blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 (T, H, W, 3) frames through a separable Gaussian blur of this sigma (pixels)."""
    if sigma == 0:
        return frames
    x = torch.from_numpy(frames).float().permute(0, 3, 1, 2)  # (T, 3, H, W)
    r = int(3 * sigma + 0.5)
    k = torch.exp(-torch.arange(-r, r + 1).float() ** 2 / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def judge_blur() -> None:
    """Exact and direction accuracy of the judge on ground-truth walks blurred to the model's sharpness and below."""
    for sigma in (0.0, 1.0, 1.5, 2.0):
        exact, direct, sharp = [], [], []
        for i in range(8):
            ws = EVAL_SEED_START + 500_000 + i
            scenario = SCENARIOS[ws % 3]
            world = make_world(scenario, ws)
            keys = random_runs(40, np.random.default_rng(i), max_run=5)
            gt = walk(world, keys, 64, 64, 10.0)
            b = blur(gt, sigma)
            sharp.append(sharpness(b).mean() / sharpness(gt).mean())
            e, d, _ = follow_scores(estimate_actions(b, camera_for(scenario, 64, 64, 10.0)), np.array(keys),
                                    np.array(clean_steps(world, keys, 10.0)))
            exact.append(e)
            direct.append(d)
        print(f"blur sigma {sigma}: sharpness {np.mean(sharp):.2f} of the truth's, exact {np.mean(exact):.3f}, "
              f"direction {np.mean(direct):.3f}")


def judge_turns() -> None:
    """What the judge reads for a turn of a fraction of one step (9 degrees at 10 fps), both ways, 30 worlds."""
    for frac in (1.0, 0.75, 0.5, 0.25):
        read = Counter()
        for i in range(30):
            ws = EVAL_SEED_START + 600_000 + i
            scenario = SCENARIOS[ws % 3]
            world = make_world(scenario, ws)
            p = world.start_pose()
            for sign, key in ((1, "A"), (-1, "D")):
                q = Pose(p.x, p.y, (p.yaw + sign * frac * 9.0) % 360.0)
                pair = np.stack([world.view(p, 64, 64), world.view(q, 64, 64)])
                read[f"{key}->{estimate_actions(pair, camera_for(scenario, 64, 64, 10.0))[0]}"] += 1
        print(f"turn of {frac} step: {dict(read)}")


def key_ranking(model_dir: str) -> None:
    """7 true context frames (t = 0.2), the 8th noised to t: the DiT's loss with each key; how often the true key
    gives the lowest (24 evaluation clips, each key in turn)."""
    from kinema.interactive.recipe import load_play
    from kinema.models.dit import DiTCond

    m = load_play(model_dir)
    W = m.cfg.window
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(24):
        ws = EVAL_SEED_START + 700 + i
        world = make_world(SCENARIOS[ws % 3], ws)
        key = KEYS[i % 7]
        keys = random_runs(W - 2, np.random.default_rng(i)) + [key]
        x = torch.from_numpy(walk(world, keys, 64, 64, 10.0)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        with torch.no_grad():
            z = m.vae.normalize(m.vae.encode(x)[0])  # (1, C, W, h, w)
        emb = m.text.encode([scene_caption(world)["en"]["detailed"]])
        for t in (0.9, 0.5):
            eps = torch.randn(z.shape, generator=g)
            tt = torch.full((1, W), 0.2)
            tt[0, -1] = t
            xt = (1 - tt[:, None, :, None, None]) * z + tt[:, None, :, None, None] * eps
            mask = torch.ones(1, W)
            mask[0, -1] = 0
            losses = []
            for a in list(range(7)) + [NULL_ACTION]:
                acts = torch.tensor([[START] + [KEYS.index(k) for k in keys[:-1]] + [a]])
                with torch.no_grad():
                    v = m.dit(xt, tt, DiTCond(text=emb.tokens, text_mask=emb.mask, mask=mask, actions=acts))
                losses.append(float((v[:, :, -1] - (eps - z)[:, :, -1]).square().mean()))
            rows.append((KEYS.index(key), t, losses))
    for t in (0.9, 0.5):
        L = np.array([r[2] for r in rows if r[1] == t])
        a = np.array([r[0] for r in rows if r[1] == t])
        wrong = np.array([np.delete(L[j, :7], a[j]).mean() for j in range(len(a))])
        print(f"t={t}: loss with the true key {L[np.arange(len(a)), a].mean():.4f}, wrong keys {wrong.mean():.4f}, "
              f"null {L[:, 7].mean():.4f}; the true key is lowest on {(L[:, :7].argmin(1) == a).mean():.2f}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "judge-blur":
        judge_blur()
    elif what == "judge-turns":
        judge_turns()
    elif what == "key-ranking":
        key_ranking(sys.argv[2] if len(sys.argv) > 2 else "src/kinema/assets/kinema-explore")
    else:
        sys.exit("usage: kinema-explore-checks-2026-12-05.py judge-blur | judge-turns | key-ranking [MODEL]")
