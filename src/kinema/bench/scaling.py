"""Sampling cost against the number of tokens: one DiT forward and one full denoising step (classifier-free
guidance: cond + uncond in one batch-2 forward, then the Euler update), and peak memory, from 256 to 16k tokens.

Batch 1, bf16 autocast, no gradients; attention goes through F.scaled_dot_product_attention (no mask: the flash
kernel, memory linear in the tokens), so 16k tokens fit well inside 24 GiB. The exponent k of time ~ tokens^k is a
least-squares line in log-log space: k near 1 means the linear layers dominate, near 2 the attention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinema.bench.machine import describe, machine_info, peak_rss_gib, reset_peak_rss, rss_gib, table, timed_cpu
from kinema.bench.train import video_grid
from kinema.models.dit import DiT, DiTConfig, DiTCond, count_params, flops_per_token

TOKENS = (256, 512, 1024, 2048, 4096, 8192, 16384)


def fit_exponent(xs: list[float], ys: list[float]) -> float | None:
    """Slope of log(y) against log(x) by least squares (None with fewer than two distinct x)."""
    if len(set(xs)) < 2:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def run_scaling(cfg: DiTConfig, tokens: tuple[int, ...] = TOKENS, *, text_len: int = 16, guidance: float = 3.0,
                precision: str = "bf16", repeat: int = 1, out: str | Path | None = None,
                name: str = "") -> tuple[dict[str, Any], str]:
    """Time one forward and one denoising step at each token count. -> (result, table); plots to `out` if given."""
    from kinema.flow.samplers import sample_euler

    if not tokens or min(tokens) < 1 or repeat < 1:
        raise ValueError(f"tokens must be integers >= 1 and repeat >= 1, got {tokens}, {repeat}")
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DiT(cfg).eval().requires_grad_(False)
    text = torch.randn(1, text_len, cfg.text_dim, generator=g)  # (1, L, E)
    mask = torch.ones(1, text_len, dtype=torch.bool)  # (1, L)
    cond = DiTCond(text=text, text_mask=mask, drop_text=torch.tensor([False]))
    uncond = DiTCond(text=text, text_mask=mask, drop_text=torch.tensor([True]))
    bf16 = precision == "bf16"

    def velocity(x, t, c):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x, t, c).float()  # as kinema.pipeline runs the DiT

    pt, ph, pw = cfg.patch
    rows = []
    with torch.no_grad():
        for i, n in enumerate(sorted(tokens)):
            F_, Hp, Wp = video_grid(n)
            x = torch.randn(1, cfg.latent_channels, F_ * pt, Hp * ph, Wp * pw, generator=g)  # (1, C, T, H, W)
            t = torch.full((1,), 0.5)
            ts = torch.tensor([1.0, 0.0])  # one Euler step from noise to data
            if i == 0:
                velocity(x, t, cond)  # warm-up once: kernels, allocator
            base = rss_gib()
            reset_peak_rss()
            fwd = [timed_cpu(lambda: velocity(x, t, cond)) for _ in range(repeat)]  # (wall, cpu) each
            step = [timed_cpu(lambda: sample_euler(velocity, x, ts, cond, uncond=uncond, guidance=guidance))
                    for _ in range(repeat)]
            flops = n * flops_per_token(cfg, n, text_len)
            best, best_cpu = min(w for w, _ in fwd), min(c for _, c in fwd)
            rows.append({"tokens": n, "grid": f"{F_}x{Hp}x{Wp}", "forward_s": best,
                         "step_s": min(w for w, _ in step), "forward_cpu_s": best_cpu,
                         "step_cpu_s": min(c for _, c in step), "forward_tflops": flops / best / 1e12,
                         "forward_tflops_cpu": flops / best_cpu / 1e12,
                         "peak_rss_gib": peak_rss_gib(), "extra_gib": max(peak_rss_gib() - base, 1e-6)})
    xs = [r["tokens"] for r in rows]
    fits = {key: fit_exponent(xs, [r[f"{key}_s" if key != "memory" else "extra_gib"] for r in rows])
            for key in ("forward", "step", "forward_cpu", "step_cpu", "memory")}
    result: dict[str, Any] = {"dit": name, "params": count_params(cfg), "precision": precision, "guidance": guidance,
                              "text_len": text_len, "rows": rows, "exponents": fits, "plot": None}
    if out:
        title = (f"{name or 'DiT'}: dim {cfg.dim}, depth {cfg.depth}, {result['params']:,} params, {precision}, "
                 f"batch 1\n{describe(machine_info())}")
        result["plot"] = str(plot(rows, fits, Path(out), title))
    fmt = lambda k: "-" if k is None else f"{k:.2f}"  # noqa: E731
    text = (f"DiT {name} ({result['params']:,} params), batch 1, {precision}, guidance {guidance:g}, "
            f"{text_len} text tokens; best of {repeat}\n"
            + table(rows, list(rows[0]))
            + f"\nfitted exponent (time ~ tokens^k): forward {fmt(fits['forward'])}, step {fmt(fits['step'])} "
            f"(by CPU time: {fmt(fits['forward_cpu'])}, {fmt(fits['step_cpu'])}); "
            f"memory above the model's (extra_gib) ~ tokens^{fmt(fits['memory'])}"
            + (f"\nplot: {result['plot']}" if result["plot"] else ""))
    return result, text


def plot(rows: list[dict[str, Any]], fits: dict[str, float | None], out: Path, title: str) -> Path:
    """Log-log plot of forward and step time against tokens (matplotlib, Agg backend) -> the written path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["tokens"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for key, label, style, color in (("forward", "one DiT forward", "o-", "C0"),
                                     ("step", "one denoising step (CFG)", "s-", "C1"),
                                     ("forward_cpu", "forward, CPU time", "o--", "C0"),
                                     ("step_cpu", "step, CPU time", "s--", "C1")):
        k = fits[key]
        ax.loglog(xs, [r[f"{key}_s"] for r in rows], style, color=color,
                  label=label + ("" if k is None else f", k = {k:.2f}"))
    ax.set_xlabel("tokens")
    ax.set_ylabel("seconds")
    ax.set_title(title, fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
