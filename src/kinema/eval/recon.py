"""How much the video autoencoder loses: reconstruction PSNR, SSIM and sharpness per world and the Phyworld
"reconstruction floor" (the physics-parse velocity error of VAE-reconstructed ground-truth video — no generated video
can score below it). Sharpness is the reconstruction's mean |Laplacian| over the truth's (1 = all fine detail kept,
< 1 = blurred): every frame a model makes goes through this decoder, so it is the ceiling of their detail too.

    kinema eval recon --model runs/vae -n 16

Clips come from the evaluation seeds (>= 10,000,000), never from the training seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from kinema.eval.fidelity import psnr, sharpness, ssim
from kinema.eval.parse import velocity_error
from kinema.train.data import EVAL_SEED_START, to_model_video

WORLD_SOURCES = {"physics": "physics", "scenes": "scenes", "explore": "explore"}


@torch.no_grad()
def reconstruct(vae, video: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) -> its VAE reconstruction, uint8 (T, H, W, 3) (fp32, posterior mean)."""
    x = to_model_video(video)[None]  # (1, 3, T, H, W)
    recon = vae.decode(vae.encode(x)[0])[0]  # (3, T, H, W)
    return ((recon.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()


def evaluate_recon(vae, *, n: int = 16, size: tuple[int, int] = (64, 64), frames: int = 33,
                   progress: bool = True) -> dict:
    """PSNR (dB), SSIM and sharpness ratio per world ("psnr_db", "ssim", "sharpness"), and for each physics scenario
    the velocity error of parsed reconstructions vs ground truth ("recon_floor")."""
    from tqdm.auto import tqdm

    from kinema.worlds import physics, render

    w, h = size
    out: dict = {"n": n, "size": f"{w}x{h}", "frames": frames, "psnr_db": {}, "ssim": {}, "sharpness": {},
                 "recon_floor": {}}
    jobs = [("psnr", world) for world in WORLD_SOURCES] + [("floor", s) for s in physics.SCENARIOS]
    bar = tqdm(total=len(jobs) * n, desc="eval recon", leave=False, disable=not progress)
    for kind, name in jobs:
        vals, sims, sharp = [], [], []
        for i in range(n):
            src = name if kind == "psnr" else f"physics/{name}"
            s = render(src, seed=EVAL_SEED_START + i, frames=frames, width=w, height=h)
            r = reconstruct(vae, s.video)
            if kind == "psnr":
                vals.append(psnr(s.video, r))
                sims.append(ssim(s.video, r))
                sharp.append(sharpness(r).mean() / max(sharpness(s.video).mean(), 1e-9))
            else:
                e = velocity_error(r, s.state)["error"]
                if e is not None:
                    vals.append(e)
            bar.update(1)
        key = "psnr_db" if kind == "psnr" else "recon_floor"
        out[key][name] = float(np.mean(vals)) if vals else None
        if kind == "psnr":
            out["ssim"][name], out["sharpness"][name] = float(np.mean(sims)), float(np.mean(sharp))
    bar.close()
    return out
