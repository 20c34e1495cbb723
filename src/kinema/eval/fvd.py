"""kinema-FVD: a Frechet distance between the feature distributions of generated and ground-truth clips, with the
floors measured in the same run, and PSNR/SSIM of reconstruction and continuation.

References: Unterthiner et al., "Towards Accurate Generative Models of Video: A New Metric & Challenges" (FVD),
arXiv 1812.01717, 2018; Heusel et al. (FID), NeurIPS 2017 (the Frechet distance between two Gaussians); Dowson &
Landau, "The Frechet distance between multivariate normal distributions", J. Multivariate Anal. 1982.

    kinema eval fvd --model src/kinema/assets/kinema-physics -n 48 --out docs/eval/fvd

The features come from kinema's own encoder (kinema.eval.features, trained on the worlds' training seeds), so the
numbers are kinema-FVD: comparable between kinema models and runs at any size, NOT comparable with I3D-FVD.

Protocol (every choice is recorded in the results' "protocol"):
  * Set A: n clips from the evaluation seeds (kinema.eval.sets), round-robin over the physics ID scenarios and the
    held-out scenes templates, indices 0, 1, ... of each cell. Set B: n further clips of the same cells from indices
    B_OFFSET + ..., disjoint from A.
  * model (text-to-video): the model generates each A clip from its English detailed caption, with the clip's seed.
    kinema-FVD(model, A) is the headline. Its floors, comparable to it (different clips, same distribution):
      sampling floor  FVD(B, A): two disjoint ground-truth sets of size n (what a perfect generator scores; the
                      Frechet distance of finite sets is biased upwards, this shows by how much);
      VAE floor       FVD(VAE(B), A): a perfect generator of the model's own latents.
  * continuation: the model sees the first 3 frames of each A clip and its caption and generates the rest
    (kinema.eval.continuation.PipelineModel, as `kinema eval physics`). Its video shares the context with A, so its
    floor is the paired VAE floor FVD(VAE(A), A) (0 for a perfect model).
  * Calibration (no model, features only): B with its frames shuffled, and B frozen on its first frame, against A
    (compare with the sampling floor: what temporal incoherence and no motion cost at this n).
  * PSNR/SSIM (kinema.eval.fidelity): reconstruction VAE(A) vs A over all frames; continuation vs A over the
    generated frames (and the VAE on the same frames, its floor).
  * Frechet distance in float64; the matrix square root via symmetric eigendecompositions (no scipy needed).
  * Intervals: bootstrap over clips (BOOT resamples, fixed seed; every set resampled once per resample, a paired
    set with its reference's indices). Resampling repeats clips, which itself raises a Frechet distance, so an FVD's
    interval is the bootstrap's 2.5-97.5% range moved from its median onto the estimate (spread_ci); a ratio to a
    floor, from per-resample ratios on shared resamples, likewise (multiplicatively, ratio_ci).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kinema.eval.sets import BLOCK, check_clip_request, eval_seed, padded_length, render_clip, video_sha256
from kinema.eval.stats import BOOT_SEED, mean_ci
from kinema.worlds import physics, scenes

# Default clips per set. `kinema eval fvd` at the defaults generates 2 x 48 clips (text-to-video and continuation)
# and renders/reconstructs 2 x 48 ground-truth clips. Measured: see docs/eval/fvd/report.md.
DEFAULT_N = 48
B_OFFSET = BLOCK // 2  # set B's clip indices start here in every cell: never in set A
BOOT = 300
CELLS: tuple[tuple[str, str, str], ...] = (*(("physics", s, "id") for s in physics.SCENARIOS),
                                           *(("scenes", t, "id") for t in scenes.HELDOUT_TEMPLATES))
COMPARISONS = {  # name -> (video set, reference set, paired, what it is)
    "model": ("model", "gt_a", False, "text-to-video vs ground truth"),
    "sampling_floor": ("gt_b", "gt_a", False, "disjoint ground truth vs ground truth (a perfect generator)"),
    "vae_floor": ("vae_b", "gt_a", False, "VAE reconstruction of disjoint ground truth (a perfect latent generator)"),
    "continuation": ("continuation", "gt_a", True, "3-frame continuation vs the same clips"),
    "vae_paired": ("vae_a", "gt_a", True, "VAE reconstruction of the same clips (continuation's floor)"),
    "shuffled": ("shuffled_b", "gt_a", False, "calibration: disjoint ground truth with its frames shuffled"),
    "frozen": ("frozen_b", "gt_a", False, "calibration: disjoint ground truth frozen on its first frame"),
}

# ----------------------------------------------------------------------------------------------------------------------
# The Frechet distance
# ----------------------------------------------------------------------------------------------------------------------


def gaussian_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D), unbiased) of features (N, D), float64. N >= 2."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (eigenvalues below 0 from rounding clipped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Squared Frechet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2), in float64:

        |mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)

    The cross term uses tr((C1 C2)^1/2) = tr((C1^1/2 C2 C1^1/2)^1/2), a symmetric PSD matrix: two eigh calls, stable
    for singular covariances (fewer clips than feature dimensions). Rounding below zero is returned as 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    if mu1.shape != mu2.shape or c1.shape != c2.shape or c1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: means {mu1.shape}, {mu2.shape}, covariances {c1.shape}, {c2.shape}")
    r = _psd_sqrt(c1)
    m = r @ c2 @ r
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * cross)
    return max(d, 0.0)


def fvd(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance of the Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


def bootstrap_fvds(feats: dict[str, np.ndarray], comparisons: dict[str, tuple[str, str, bool]],
                   rng: np.random.Generator, *, n_boot: int = BOOT) -> dict[str, np.ndarray]:
    """(n_boot,) bootstrap FVDs per comparison name -> (video set, reference set, paired). In each resample every set
    is resampled once, with replacement; a paired video set reuses its reference's clip indices. Shared resamples
    make ratios of two comparisons against one reference meaningful per resample."""
    out: dict[str, list[float]] = {k: [] for k in comparisons}
    for _ in range(n_boot):
        idx = {k: rng.integers(0, len(v), len(v)) for k, v in feats.items()}
        for name, (a, b, paired) in comparisons.items():
            out[name].append(fvd(feats[a][idx[b] if paired else idx[a]], feats[b][idx[b]]))
    return {k: np.array(v) for k, v in out.items()}


def spread_ci(value: float, boots: np.ndarray, level: float = 0.95) -> list[float | None]:
    """The bootstrap's central `level` range moved from its median onto `value` (floored at 0): resampling repeats
    clips, which raises a Frechet distance, so plain percentiles of the bootstrap sit above the estimate; their
    spread is what carries over."""
    if boots.size == 0:
        return [None, None]
    lo, med, hi = np.quantile(boots, [(1 - level) / 2, 0.5, (1 + level) / 2])
    return [round(max(0.0, value - (med - lo)), 4), round(value + (hi - med), 4)]


def fvd_ci(feats: np.ndarray, ref: np.ndarray, rng: np.random.Generator, *, paired: bool = False,
           n_boot: int = BOOT, level: float = 0.95) -> dict[str, Any]:
    """{"fvd", "ci95": [lo, hi], "n"}: one FVD with its bootstrap interval (spread_ci)."""
    value = fvd(feats, ref)
    boots = bootstrap_fvds({"x": feats, "ref": ref}, {"c": ("x", "ref", paired)}, rng, n_boot=n_boot)["c"]
    return {"fvd": round(value, 4), "ci95": spread_ci(value, boots, level), "n": int(len(feats))}


def ratio_ci(num: np.ndarray, den: np.ndarray, value: float | None, level: float = 0.95) -> dict[str, Any]:
    """{"ratio", "ci95"}: a ratio of two FVDs; its interval is the central range of the per-resample ratios (shared
    resamples) relative to their median, applied to `value` multiplicatively (the resampling bias differs between
    numerator and denominator, so plain percentiles of the ratio miss the estimate)."""
    ok = den > 0
    if value is None or not ok.any():
        return {"ratio": None, "ci95": [None, None]}
    lo, med, hi = np.quantile(num[ok] / den[ok], [(1 - level) / 2, 0.5, (1 + level) / 2])
    return {"ratio": round(value, 3), "ci95": [round(float(value * lo / med), 3), round(float(value * hi / med), 3)]}

# ----------------------------------------------------------------------------------------------------------------------
# The evaluation
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class FVDEvalConfig:
    n: int = DEFAULT_N
    size: tuple[int, int] = (64, 64)  # (width, height)
    frames: int = 32
    context: int = 3
    fps: float = 10.0
    steps: int = 16
    guidance: float = 3.0
    seed: int = 0  # added to every clip's sampling seed
    examples: int = 6  # clips kept (in memory) for the report's contact sheet
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.size = tuple(self.size)
        if self.frames < 16:
            raise ValueError(f"frames must be >= 16 (the feature encoder's input), got {self.frames}")
        check_clip_request(n=self.n, n_range=(2, len(CELLS) * (B_OFFSET // 2)), frames=self.frames,
                           context=self.context, size=self.size)
        if self.steps < 1 or self.guidance < 0:
            raise ValueError(f"steps must be >= 1 and guidance >= 0, got {self.steps}, {self.guidance}")


def clip_set(n: int, offset: int = 0) -> list[tuple[str, str, str, int]]:
    """(world, scenario, split, seed) of n evaluation clips, round-robin over CELLS from clip index `offset`."""
    return [(*CELLS[i % len(CELLS)], eval_seed(*CELLS[i % len(CELLS)], offset + i // len(CELLS))) for i in range(n)]


def shuffle_frames(video: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return video[rng.permutation(len(video))]


def cpu_name() -> str:
    """The CPU's model name (as lscpu prints it), for reports: absolute times do not transfer between CPUs."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def evaluate_fvd(pipe, encoder, cfg: FVDEvalConfig, *, encoder_info: dict | None = None, vae=None,
                 progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the protocol (module docstring) with `pipe` (a kinema Pipeline: generate, extend, vae).

    Returns (results, examples): results is JSON-ready; examples holds a few clips' videos for the contact sheet."""
    from tqdm.auto import tqdm

    from kinema.eval.continuation import PipelineModel, timed_continuation
    from kinema.eval.features import video_features
    from kinema.eval.fidelity import psnr, ssim
    from kinema.eval.recon import reconstruct

    vae = vae if vae is not None else getattr(pipe, "vae", None)
    if vae is None:
        raise ValueError("kinema eval fvd needs a VAE for its floors: the model has none")
    cont = PipelineModel(pipe, steps=cfg.steps, guidance=cfg.guidance, seed_offset=cfg.seed)
    w, h = cfg.size
    n_pad = padded_length(cfg.frames, int(vae.cfg.time_down))
    shuffle_rng = np.random.default_rng(BOOT_SEED + 1)
    feats: dict[str, list[np.ndarray]] = {k: [] for k in ("gt_a", "gt_b", "vae_a", "vae_b", "model", "continuation",
                                                           "shuffled_b", "frozen_b")}
    clips, examples = [], []
    t = {"render_s": 0.0, "generate_s": 0.0, "continue_s": 0.0, "vae_s": 0.0, "features_s": 0.0, "fidelity_s": 0.0}
    t_start = time.perf_counter()

    def feat(key: str, video: np.ndarray) -> None:
        t0 = time.perf_counter()
        feats[key].append(video_features(encoder, [video])[0])
        t["features_s"] += time.perf_counter() - t0

    def render(world, scenario, split, seed) -> tuple[np.ndarray, np.ndarray, str]:
        t0 = time.perf_counter()
        s = render_clip(world, scenario, split, seed, frames=cfg.frames, width=w, height=h, fps=cfg.fps,
                        extra=n_pad - cfg.frames)
        t["render_s"] += time.perf_counter() - t0
        return s.video[:cfg.frames], s.video, s.caption["en"]["detailed"]

    def recon(long: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        r = reconstruct(vae, long)[:cfg.frames]
        t["vae_s"] += time.perf_counter() - t0
        return r

    set_a, set_b = clip_set(cfg.n), clip_set(cfg.n, B_OFFSET)
    bar = tqdm(total=2 * cfg.n, desc=f"eval fvd ({getattr(pipe, 'name', 'model')})", unit="clip",
               disable=not progress)
    for i, (world, scenario, split, seed) in enumerate(set_a):
        gt, long, caption = render(world, scenario, split, seed)
        t0 = time.perf_counter()
        gen = np.asarray(pipe.generate(caption, frames=cfg.frames, size=cfg.size, fps=cfg.fps, seed=seed + cfg.seed,
                                       steps=cfg.steps, guidance=cfg.guidance).video)[:cfg.frames]
        t["generate_s"] += time.perf_counter() - t0
        if gen.shape != gt.shape or gen.dtype != np.uint8:
            raise ValueError(f"the model's generate returned {gen.dtype} {gen.shape}, expected uint8 {gt.shape}")
        cv, seconds = timed_continuation(cont, gt, cfg.context, caption=caption, seed=seed)
        t["continue_s"] += seconds
        rec = recon(long)
        for key, video in (("gt_a", gt), ("model", gen), ("continuation", cv), ("vae_a", rec)):
            feat(key, video)
        t0 = time.perf_counter()
        k = cfg.context

        def fidelity(v: np.ndarray, ref: np.ndarray) -> dict[str, float]:
            return {"psnr_db": round(psnr(v, ref), 4), "ssim": round(ssim(v, ref), 5)}

        clips.append({"set": "A", "world": world, "scenario": scenario, "split": split, "seed": seed,
                      "gt_sha256": video_sha256(gt), "caption": caption, "recon": fidelity(rec, gt),
                      "continuation": fidelity(cv[k:], gt[k:]), "recon_generated_frames": fidelity(rec[k:], gt[k:])})
        t["fidelity_s"] += time.perf_counter() - t0
        if i < cfg.examples:
            examples.append({"world": world, "scenario": scenario, "seed": seed, "gt": gt, "model": gen,
                             "continuation": cv, "vae": rec})
        bar.update(1)
    for world, scenario, split, seed in set_b:
        gt, long, _ = render(world, scenario, split, seed)
        feat("gt_b", gt)
        feat("vae_b", recon(long))
        feat("shuffled_b", shuffle_frames(gt, shuffle_rng))
        feat("frozen_b", np.repeat(gt[:1], len(gt), 0))
        clips.append({"set": "B", "world": world, "scenario": scenario, "split": split, "seed": seed,
                      "gt_sha256": video_sha256(gt)})
        bar.update(1)
    bar.close()

    f = {k: np.stack(v) for k, v in feats.items()}
    rng = np.random.default_rng(BOOT_SEED)
    t0 = time.perf_counter()
    boots = bootstrap_fvds(f, {k: v[:3] for k, v in COMPARISONS.items()}, rng)
    values = {name: fvd(f[a], f[b]) for name, (a, b, _, _) in COMPARISONS.items()}
    scores = {name: {"fvd": round(values[name], 4), "ci95": spread_ci(values[name], boots[name]), "n": cfg.n,
                     "what": what} for name, (_, _, _, what) in COMPARISONS.items()}
    ratios = {f"{a}_over_{b}": ratio_ci(boots[a], boots[b], values[a] / values[b] if values[b] > 0 else None)
              for a, b in (("model", "sampling_floor"), ("model", "vae_floor"), ("continuation", "vae_paired"),
                           ("shuffled", "sampling_floor"), ("frozen", "sampling_floor"))}
    t["bootstrap_s"] = time.perf_counter() - t0
    a_clips = [c for c in clips if c["set"] == "A"]
    fidelity = {src: {m: mean_ci([c[src][m] for c in a_clips], rng) for m in ("psnr_db", "ssim")}
                for src in ("recon", "continuation", "recon_generated_frames")}
    protocol = {**asdict(cfg), "cells": ["/".join(c) for c in CELLS], "set_b_offset": B_OFFSET,
                "comparisons": {k: {"video": v[0], "reference": v[1], "paired": v[2], "what": v[3]}
                                for k, v in COMPARISONS.items()},
                "prompt": "the clip's English detailed caption", "bootstrap": {"resamples": BOOT, "seed": BOOT_SEED},
                "encoder": encoder_info or {}, "metric": "kinema-FVD (kinema's own encoder; not I3D-FVD)"}
    runtime = {"total_s": round(time.perf_counter() - t_start, 2), **{k: round(v, 2) for k, v in t.items()},
               "generate_s_per_clip": round(t["generate_s"] / cfg.n, 3),
               "continue_s_per_clip": round(t["continue_s"] / cfg.n, 3), "cpu": cpu_name()}
    results = {"kind": "fvd", "model": str(getattr(pipe, "name", "model")), "protocol": protocol, "fvd": scores,
               "ratios": ratios, "fidelity": fidelity, "clips": clips, "runtime": runtime}
    return results, examples


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------


def write_fvd_report(results: dict[str, Any], out_dir: str | Path, examples: list[dict] = ()) -> Path:
    """report.md, fvd.png (and fvd_examples.png with examples) for evaluate_fvd results; returns the report's path."""
    from PIL import Image

    from kinema.eval.report import COLORS, _ci, _figure, _fmt
    from kinema.video import contact_sheet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s, fid, pr, rt = results["fvd"], results["fidelity"], results["protocol"], results["runtime"]
    colour = {"model": COLORS["model"], "continuation": COLORS["model"], "sampling_floor": COLORS["gt"],
              "vae_floor": COLORS["vae"], "vae_paired": COLORS["vae"], "shuffled": "#bbbbbb", "frozen": "#bbbbbb"}

    fig, (ax, ax2) = _figure(10.0, 3.8, ncols=2)
    names = list(s)
    y = np.arange(len(names))
    v = np.array([s[k]["fvd"] for k in names])
    lo = np.array([s[k]["ci95"][0] if s[k]["ci95"][0] is not None else s[k]["fvd"] for k in names])
    hi = np.array([s[k]["ci95"][1] if s[k]["ci95"][1] is not None else s[k]["fvd"] for k in names])
    ax.barh(y, v, color=[colour[k] for k in names], xerr=np.array([np.clip(v - lo, 0, None),
                                                                     np.clip(hi - v, 0, None)]), capsize=3)
    ax.axvline(s["sampling_floor"]["fvd"], color=COLORS["gt"], lw=0.8, ls="--")
    ax.set_yticks(y, [k.replace("_", " ") for k in names])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("kinema-FVD (log scale; 95% bootstrap interval)")
    ax.set_title(f"{results['model']}: kinema-FVD, n = {pr['n']} per set")
    per = {src: [c[src]["psnr_db"] for c in results["clips"] if c["set"] == "A"]
           for src in ("recon", "recon_generated_frames", "continuation")}
    ax2.boxplot(list(per.values()), tick_labels=["VAE recon\n(all frames)", "VAE recon\n(generated frames)",
                                                 "continuation"])
    ax2.set_ylabel("PSNR per clip (dB)")
    ax2.set_title("Pixel fidelity to the ground truth")
    fig.savefig(out / "fvd.png")
    figs = [("kinema-FVD against its floors, and PSNR per clip", "fvd.png")]

    if examples:
        pick = np.linspace(0, pr["frames"] - 1, 7).round().astype(int)
        cells, labels = [], []
        names = {"gt": "truth", "model": "text-to-video", "continuation": "continued", "vae": "VAE"}
        for ex in examples:
            scale = max(1, 128 // ex["gt"].shape[1])
            for row in ("gt", "model", "continuation", "vae"):
                for j, k in enumerate(pick):
                    img = Image.fromarray(ex[row][k]).resize((ex[row].shape[2] * scale, ex[row].shape[1] * scale),
                                                             Image.NEAREST)
                    cells.append(np.asarray(img))
                    labels.append((f"{ex['scenario']}: " if row == "gt" else "") + names[row] if j == 0
                                  else f"t={k}")
        Image.fromarray(contact_sheet(cells, cols=len(pick), labels=labels)).save(out / "fvd_examples.png")
        figs.append(("Example clips: ground truth, text-to-video, continuation (3 context frames), VAE "
                     "reconstruction", "fvd_examples.png"))

    enc = pr.get("encoder", {})
    held = enc.get("heldout", {})
    w, h = pr["size"]

    def row(k: str) -> str:
        lo_, hi_ = s[k]["ci95"]
        return f"| {k.replace('_', ' ')} | {s[k]['fvd']:.2f} [{_fmt(lo_, 2)}, {_fmt(hi_, 2)}] | {s[k]['what']} |"

    def fid_row(name: str, key: str) -> str:
        p, q = fid[key]["psnr_db"], fid[key]["ssim"]
        return (f"| {name} | {p['mean']:.2f} [{p['ci95'][0]:.2f}, {p['ci95'][1]:.2f}] | "
                f"{q['mean']:.4f} [{q['ci95'][0]:.4f}, {q['ci95'][1]:.4f}] |")

    r = results["ratios"]
    lines = [f"# kinema-FVD: {results['model']}", "",
             f"**kinema-FVD is not I3D-FVD**: the features come from kinema's own video encoder "
             f"(`{enc.get('path', 'kinema-fvd-encoder')}`), trained on the worlds' training seeds; compare these "
             "numbers only with other kinema-FVD numbers.", "",
             f"{pr['n']} clips per set, {w}x{h}, {pr['frames']} frames at {pr['fps']:g} fps, from the evaluation seeds "
             f"of {', '.join(pr['cells'])} (round-robin). Text-to-video from each clip's English detailed caption; "
             f"continuation from its first {pr['context']} frames and caption; {pr['steps']} sampler steps, guidance "
             f"{pr['guidance']:g}. Brackets: 95% bootstrap intervals over clips ({pr['bootstrap']['resamples']} "
             f"resamples, seed {pr['bootstrap']['seed']}); an FVD's interval is the bootstrap's spread moved onto the "
             "estimate (resampling repeats clips, which itself raises a Frechet distance), and a ratio's the spread of "
             "its per-resample ratios, likewise.", "",
             "| comparison | kinema-FVD [95% CI] | what |", "|---|---|---|",
             *(row(k) for k in ("model", "sampling_floor", "vae_floor")), "|  |  |  |",
             *(row(k) for k in ("continuation", "vae_paired")), "|  |  |  |",
             *(row(k) for k in ("shuffled", "frozen")), "",
             "| ratio | value [95% CI] |", "|---|---|",
             *(f"| {k.replace('_', ' ')} | {_ci(v, 'ratio', 2)} |" for k, v in r.items()), "",
             f"The sampling floor is what two independent sets of {pr['n']} real clips score against each other (the "
             "finite-sample bias of a Frechet distance; it falls as 1/n): a model at the floor is indistinguishable "
             "from the worlds at this n. Shuffled and frozen ground truth show what temporal incoherence and no "
             "motion alone cost.", "",
             "| pixel fidelity (set A) | PSNR dB [95% CI] | SSIM [95% CI] |", "|---|---|---|",
             fid_row("VAE reconstruction, all frames", "recon"),
             fid_row(f"VAE reconstruction, frames {pr['context']}..", "recon_generated_frames"),
             fid_row(f"continuation, frames {pr['context']}.. (generated)", "continuation"), "",
             f"Feature encoder: {enc.get('params', '?')} parameters; held-out accuracy (encoder's own held-out "
             f"training-range seeds): scenario {_fmt(held.get('scenario'), 3)}, object count "
             f"{_fmt(held.get('count'), 3)}, colour set {_fmt(held.get('colours_exact'), 3)}, kind set "
             f"{_fmt(held.get('kinds_exact'), 3)}, trajectory R^2 {_fmt(held.get('trajectory_r2'), 3)}, "
             f"time direction (forward / reversed / shuffled) {_fmt(held.get('time'), 3)}.", "",
             f"Runtime {rt['total_s']:.0f} s on {rt['cpu']} ({rt['generate_s_per_clip']:.2f} s per text-to-video "
             f"clip, {rt['continue_s_per_clip']:.2f} s per continuation; VAE {rt['vae_s']:.0f} s, features "
             f"{rt['features_s']:.0f} s, bootstrap {rt['bootstrap_s']:.0f} s).", "",
             *([f"Command: `{results['command']}`", ""] if results.get("command") else [])]
    for title, name in figs:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
