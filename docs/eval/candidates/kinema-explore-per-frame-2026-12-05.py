"""Per-frame picture quality of kinema-explore rollouts (session 15): PSNR against the truth and against repeating the
first frame, and sharpness (mean |Laplacian|) over the truth's, frame by frame over 32 frames of 6 scripted and 6
random evaluation walks, to see where the picture is lost. On v0.5 (AMD EPYC, 2 threads) sharpness was 0.37 of the
truth's at frame 1 (the explore VAE's own reconstruction keeps 0.42: `kinema eval recon`), falling to ~0.25 by frame
12, with no knee when the true start frame leaves the 8-frame window.

    .venv/bin/python docs/eval/candidates/kinema-explore-per-frame-2026-12-05.py [MODEL_DIR] [THREADS]
"""
import sys, numpy as np, torch
from kinema.interactive.recipe import load_play
from kinema.interactive.session import Session, rollout
from kinema.interactive.data import action_sequence, walk, scene_caption
from kinema.interactive.evaluate import psnr, sharpness, POLICIES
from kinema.train.data import EVAL_SEED_START
from kinema.worlds.explore import SCENARIOS, make_world
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
m = load_play(sys.argv[1] if len(sys.argv) > 1 else "src/kinema/assets/kinema-explore")
F, n = 33, 6
P, S, B = [], [], []
for pi, policy in enumerate(POLICIES):
    for i in range(n):
        ws = EVAL_SEED_START + 1000 * pi + i
        world = make_world(SCENARIOS[ws % 3], ws)
        keys = action_sequence(policy, world, F - 1, 10.0, np.random.default_rng(ws))
        gt = walk(world, keys, 64, 64, 10.0)
        gen = rollout(Session(m, scene_caption(world, 10.0)["en"]["detailed"], seed=i), keys, gt[0])
        P.append([psnr(gen[k], gt[k]) for k in range(F)]); B.append([psnr(gt[0], gt[k]) for k in range(F)])
        S.append(sharpness(gen) / np.maximum(sharpness(gt), 1e-9))
P, S, B = map(np.array, (P, S, B))
for k in range(1, F):
    print(f"frame {k:2d}  psnr {P[:, k].mean():5.2f}  repeat {B[:, k].mean():5.2f}  sharp {S[:, k].mean():.2f}")
