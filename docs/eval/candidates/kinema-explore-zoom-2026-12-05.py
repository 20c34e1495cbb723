"""The checks behind kinema-explore-position-2026-12-05.md (session 11), re-runnable:

    python docs/eval/candidates/kinema-explore-zoom-2026-12-05.py zoom [MODEL]         # do W / S steps zoom?
    python docs/eval/candidates/kinema-explore-zoom-2026-12-05.py sheet [MODEL] OUT.png  # S steps, side by side

Both look at S (and W) steps of random walks in evaluation worlds, each made by one play step from the true past
(kinema.interactive.session.teacher_forced, the shipped play settings), and compare the frame the model makes with the
true next frame through the model's VAE. "zoom": the centre-zoom factor s that best maps the previous true frame onto
a frame (bilinear, 40 x 40 centre crop, s in 0.80 .. 1.25): > 1 = the view came closer (W), < 1 = it backed away (S);
on S steps also with "." and W pressed in place of S. "sheet": for the first two S steps of two worlds, one row each of
previous frame | true next frame | model with S | model with . | model with W. One thread, fixed seeds.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from kinema.interactive.data import action_sequence, scene_caption, walk
from kinema.interactive.evaluate import _vae_recon, clean_steps
from kinema.interactive.recipe import load_play
from kinema.interactive.session import teacher_forced
from kinema.train.data import EVAL_SEED_START
from kinema.worlds.explore import SCENARIOS, make_world

torch.set_num_threads(1)
SCALES = np.linspace(0.8, 1.25, 46)
SHIPPED = "src/kinema/assets/kinema-explore"


def zoom(a: torch.Tensor, s: float) -> torch.Tensor:
    """(3, H, W) float image zoomed about its centre by s (> 1 magnifies)."""
    H, W = a.shape[1:]
    theta = torch.tensor([[1 / s, 0, 0], [0, 1 / s, 0]], dtype=torch.float32)[None]
    grid = F.affine_grid(theta, (1, 3, H, W), align_corners=False)
    return F.grid_sample(a[None], grid, align_corners=False, padding_mode="border")[0]


def best_zoom(a: np.ndarray, b: np.ndarray) -> float:
    """The s in SCALES for which zoom(a, s) is nearest b (L1 over the centre crop)."""
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1).float() for x in (a, b))
    H, W = a.shape[:2]
    ch, cw = slice(H * 3 // 16, H * 13 // 16), slice(W * 3 // 16, W * 13 // 16)
    errs = [(zoom(ta, s) - tb)[:, ch, cw].abs().mean().item() for s in SCALES]
    return float(SCALES[int(np.argmin(errs))])


def s_steps(model, worlds: int, frames: int = 65):
    """Per world: (keys, clean, true frames through the VAE, {pressed instead of S: frames made from the true past})."""
    fps, (w, h) = model.cfg.fps, model.size
    for i in range(worlds):
        world_seed = EVAL_SEED_START + 1000 + i  # kinema eval play's random-walk worlds
        world = make_world(SCENARIOS[world_seed % len(SCENARIOS)], world_seed)
        keys = action_sequence("random", world, frames - 1, fps, np.random.default_rng(world_seed))
        gt = walk(world, keys, w, h, fps)
        prompt = scene_caption(world, fps)["en"]["detailed"]
        made = {alt: model.decode_frames(teacher_forced(model, gt, [alt if k == "S" else k for k in keys], prompt,
                                                        seed=i))
                for alt in ("S", ".", "W")}
        yield keys, clean_steps(world, keys, fps), _vae_recon(model, gt), made


def check_zoom(path: str, worlds: int = 3) -> None:
    model = load_play(path)
    rows: dict[str, list] = {"W": [], "S": []}
    for keys, clean, recon, made in s_steps(model, worlds):
        for k, key in enumerate(keys):
            if key in rows and clean[k]:
                alts = ("S", ".", "W") if key == "S" else ("S",)  # made["S"] is the run as pressed
                rows[key].append([best_zoom(recon[k], recon[k + 1])] + [best_zoom(recon[k], made[a][k]) for a in alts])
    w, s = np.array(rows["W"]), np.array(rows["S"])
    print(f"{model.name}: median best zoom over {worlds} random walks, from the true past")
    print(f"  W steps ({len(w)}): truth {np.median(w[:, 0]):.3f}, model {np.median(w[:, 1]):.3f}")
    print(f"  S steps ({len(s)}): truth {np.median(s[:, 0]):.3f}, model with S {np.median(s[:, 1]):.3f} "
          f"(with . {np.median(s[:, 2]):.3f}, with W {np.median(s[:, 3]):.3f}); model zooms out (< 0.99) on "
          f"{(s[:, 1] < 0.99).mean():.0%} of them, the truth on {(s[:, 0] < 0.99).mean():.0%}")


def sheet(path: str, out: str) -> None:
    model = load_play(path)
    tiles = []
    for keys, clean, recon, made in s_steps(model, 2):
        for k in [k for k, key in enumerate(keys) if key == "S" and clean[k]][:2]:
            tiles.append(np.concatenate([recon[k], recon[k + 1], made["S"][k], made["."][k], made["W"][k]], axis=1))
    img = np.concatenate(tiles, axis=0)
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(out)
    print(f"wrote {out}: rows = S steps; columns = previous | truth | S | . | W")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "zoom":
        check_zoom(args[0] if args else SHIPPED)
    elif what == "sheet":
        sheet(args[0] if len(args) > 1 else SHIPPED, args[-1])
    else:
        raise SystemExit(__doc__)
