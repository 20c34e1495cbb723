"""The checks behind kinema-explore-ego-gain-2026-12-06.md (session 17), re-runnable:

    python docs/eval/candidates/kinema-explore-ego-gain-2026-12-06.py blur            # is the judge fooled by blur?
    python docs/eval/candidates/kinema-explore-ego-gain-2026-12-06.py zoom [MODEL] [GAIN] [OUT.png]
    python docs/eval/candidates/kinema-explore-ego-gain-2026-12-06.py plot OUT.png LABEL=DIR ...

"blur": direction following of the inverse-dynamics estimate on the ground truth of `kinema eval play -n 6`'s 12
walks (128 steps each, clean steps only), with every frame Gaussian-blurred (sigma in pixels) down to and below the
sharpness of the model's rollouts (0.2-0.4 of the truth's). "zoom": the model's own rollout of the first 3 scripted
walks (64 steps), played with ego gain GAIN; on W and S steps, the centre zoom that best maps each frame onto the next
(bilinear, 40 x 40 centre crop; kinema-explore-zoom-2026-12-05.py) for the truth and for the model, and what the
judge reads; with OUT.png, the first 8 W steps of world 0, truth above, model below. "plot": direction following
in the own rollout against PSNR at horizon 32, per policy, of `kinema eval play --out DIR` results (a LABEL with
"v0.7" red, with "v0.6" blue). One thread, fixed seeds.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from kinema.eval.fidelity import sharpness
from kinema.interactive.data import action_sequence, scene_caption, walk
from kinema.interactive.evaluate import DIRECTION, clean_steps
from kinema.interactive.idm import camera_for, estimate_actions
from kinema.interactive.recipe import load_play
from kinema.interactive.session import Session, rollout
from kinema.train.data import EVAL_SEED_START
from kinema.worlds.explore import SCENARIOS, make_world

torch.set_num_threads(1)
FPS = 10.0
SHIPPED = "src/kinema/assets/kinema-explore"
_ZOOM = Path(__file__).with_name("kinema-explore-zoom-2026-12-05.py")  # best_zoom
_spec = importlib.util.spec_from_file_location("zoomcheck", _ZOOM)
zoomcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoomcheck)


def eval_walk(policy: str, i: int, steps: int):
    """kinema eval play's world i of a policy: (scenario, world, keys, true frames)."""
    world_seed = EVAL_SEED_START + 1000 * ("scripted", "random").index(policy) + i
    scenario = SCENARIOS[world_seed % len(SCENARIOS)]
    world = make_world(scenario, world_seed)
    keys = action_sequence(policy, world, steps, FPS, np.random.default_rng(world_seed))
    return scenario, world, keys, walk(world, keys, 64, 64, FPS)


def blur() -> None:
    walks = [eval_walk(p, i, 128) for p in ("scripted", "random") for i in range(6)]
    for sigma in (0.0, 0.7, 1.0, 1.5, 2.0):
        total, right, ratio = Counter(), Counter(), []
        for scenario, world, keys, gt in walks:
            frames = gt if sigma == 0 else np.clip(gaussian_filter(gt.astype(np.float32), (0, sigma, sigma, 0))
                                                   + 0.5, 0, 255).astype(np.uint8)
            ratio.append(sharpness(frames).mean() / sharpness(gt).mean())
            est = estimate_actions(frames, camera_for(scenario, 64, 64, FPS))
            for k, e, ok in zip(keys, est, clean_steps(world, keys, FPS)):
                if ok:
                    total[k] += 1
                    right[k] += DIRECTION[k] == DIRECTION[e]
        print(f"blur sigma {sigma}: sharpness {np.mean(ratio):.2f} of the truth's; direction right "
              + ", ".join(f"{k} {right[k] / total[k]:.2f}" for k in "WSADQE.") +
              f"; all {sum(right.values()) / sum(total.values()):.3f} of {sum(total.values())} steps")


def zoom(path: str = SHIPPED, gain: str | None = None, out: str | None = None) -> None:
    model = load_play(path)
    rows: dict[str, list] = {"W": [], "S": []}
    for i in range(3):
        scenario, world, keys, gt = eval_walk("scripted", i, 64)
        session = Session(model, scene_caption(world, FPS)["en"]["detailed"], seed=i,
                          ego_gain=None if gain is None else float(gain))
        gen = rollout(session, keys, gt[0])
        est = estimate_actions(gen, camera_for(scenario, 64, 64, FPS))
        clean = clean_steps(world, keys, FPS)
        for k, key in enumerate(keys):
            if key in rows and clean[k]:
                rows[key].append((zoomcheck.best_zoom(gt[k], gt[k + 1]), zoomcheck.best_zoom(gen[k], gen[k + 1]),
                                  est[k]))
        if i == 0 and out:
            ks = [k for k, key in enumerate(keys) if key == "W" and clean[k]][:8]
            sheet = np.concatenate([np.concatenate([v[k + 1] for k in ks], 1) for v in (gt, gen)], 0)
            Image.fromarray(sheet).resize((sheet.shape[1] * 3, sheet.shape[0] * 3), Image.NEAREST).save(out)
    print(f"{model.name}, ego gain {session.cfg.ego_gain:g}: own rollout of 3 scripted walks")
    for key, r in rows.items():
        z = np.array([x[:2] for x in r])
        reads = ", ".join(f"{a} {n}" for a, n in Counter(x[2] for x in r).most_common())
        print(f"  {key} steps ({len(r)}): best zoom, truth median {np.median(z[:, 0]):.3f}, model "
              f"{np.median(z[:, 1]):.3f}; the judge reads {reads}")


def plot(out: str, *pairs: str) -> None:
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, policy in zip(axes, ("scripted", "random")):
        for n, pair in enumerate(pairs):
            label, folder = pair.split("=", 1)
            r = json.loads((Path(folder) / "results.json").read_text())["policies"][policy]
            x, y = r["psnr"]["32"], 100 * r["direction_accuracy"]
            ax.scatter(x, y, color="C3" if "v0.7" in label else "C0" if "v0.6" in label else "C7", zorder=3)
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4 if n % 2 else -10),
                        fontsize=8)
            ax.axvline(r["base_psnr"]["32"], color="k", ls=":", lw=0.8)
        ax.set_title(f"{policy} walks (dotted: repeating the last frame)")
        ax.set_xlabel("PSNR at horizon 32 (dB)")
        ax.set_ylabel("direction following, own rollout (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("kinema-explore, v0.6's weights: ego gain and context noise at play time", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    what, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if what == "blur":
        blur()
    elif what == "zoom":
        zoom(*args)
    elif what == "plot" and len(args) >= 2:
        plot(*args)
    else:
        raise SystemExit(__doc__)
