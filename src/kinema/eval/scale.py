"""The scale study: Phyworld's Fig. 3 axes on this machine -- velocity error against model size and training videos.

    kinema eval scale --out docs/eval/scale                # 3 sizes x 3 data amounts, uniform motion, 64x64
    kinema eval scale --sizes 64,128 --videos 16,128 --steps 50 --runs runs/scale-small

Every cell of the grid is a real `kinema train dit` run (kinema.train.recipes.build_dit_run) on `physics/<scenario>`
clips from a fixed pool of N training videos, trained for the same number of steps and batch (a fixed compute budget
per size, so a larger pool is seen fewer times), in the extension mode only (the first 3 frames clean: what the
evaluation asks), on the latents of one fixed VAE (the shipped model's). Each cell is then scored with
kinema.eval.physics (Phyworld's protocol, ID and OOD, the same evaluation seeds for every cell) beside the ground-truth
and VAE floors. Cells are run directories under --runs: an interrupted study resumes, a finished cell is not redone.

References: Kang et al. 2024, "How Far is Video Generation from World Model: A Physical Law Perspective"
(arXiv 2411.02385), Fig. 3 (error against model size and data size, ID and OOD).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kinema.models.dit import DiTConfig

# Model sizes of the study, by width: depth and heads grow with it, patch 1x4x4 (16 tokens per 64x64 frame).
SIZES: dict[int, DiTConfig] = {
    32: DiTConfig(latent_channels=4, dim=32, depth=2, heads=2, patch=(1, 4, 4)),  # tests
    64: DiTConfig(latent_channels=4, dim=64, depth=2, heads=2, patch=(1, 4, 4)),
    128: DiTConfig(latent_channels=4, dim=128, depth=4, heads=4, patch=(1, 4, 4)),
    256: DiTConfig(latent_channels=4, dim=256, depth=6, heads=4, patch=(1, 4, 4)),  # the shipped model's size (XS4)
}

# Phyworld's own numbers (their Table / Fig. 3 at 128x128, 3M training videos), for the report's reference markers.
PHYWORLD = {"uniform": {"DiT-S": (0.015, 0.288), "DiT-L": (0.012, 0.427)},
            "collision": {"DiT-S": (0.023, 0.153), "DiT-L": (0.015, 0.161)},
            "parabola": {"DiT-S": (0.047, 0.307), "DiT-L": (0.033, 0.338)}}
PHYWORLD_PARAMS = {"DiT-S": 22.5e6, "DiT-L": 310e6}
PHYWORLD_VIDEOS = 3_000_000


@dataclass
class ScaleConfig:
    sizes: tuple[int, ...] = (64, 128, 256)  # keys of SIZES
    videos: tuple[int, ...] = (64, 512, 4096)  # training pool sizes
    scenario: str = "uniform"
    steps: int = 600
    batch_size: int = 8
    lr: float = 4e-4
    size: tuple[int, int] = (64, 64)  # (width, height)
    frames: int = 33  # training clip length; the evaluation's 32 frames fit in one window
    vae: str | None = None  # a VAE run or model directory (default: the shipped model's VAE)
    n: int = 10  # evaluation clips per split
    eval_steps: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        from kinema.worlds import physics

        self.sizes, self.videos, self.size = tuple(self.sizes), tuple(self.videos), tuple(self.size)
        if not self.sizes or any(s not in SIZES for s in self.sizes):
            raise ValueError(f"--sizes must be widths from {sorted(SIZES)}, got {self.sizes}")
        if not self.videos or min(self.videos) < 1:
            raise ValueError(f"--videos must be training pool sizes >= 1, got {self.videos}")
        if self.scenario not in physics.SCENARIOS:
            raise ValueError(f"--scenario must be one of {', '.join(physics.SCENARIOS)}, got {self.scenario!r}")
        if self.steps < 1 or self.batch_size < 1 or self.n < 1:
            raise ValueError("--steps, --batch-size and -n must be >= 1")


def cell_name(size: int, videos: int) -> str:
    return f"d{size}-n{videos}"


# ----------------------------------------------------------------------------------------------------------------------
# One cell: train (or resume, or skip), then evaluate
# ----------------------------------------------------------------------------------------------------------------------


def train_cell(cfg: ScaleConfig, size: int, videos: int, run_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """Train one cell to cfg.steps (resuming a partial run, skipping a finished one). Returns its training record."""
    from kinema.train import TrainConfig
    from kinema.train.checkpoint import latest_checkpoint
    from kinema.train.data import DataConfig
    from kinema.train.recipes import FlowConfig, build_dit_run

    done = latest_checkpoint(run_dir)
    step = json.loads((done / "trainer.json").read_text())["step"] if done is not None else 0
    if step < cfg.steps:
        w, h = cfg.size
        data = DataConfig(source=f"physics/{cfg.scenario}", sizes=(f"{w}x{h}",), frames=(cfg.frames,),
                          num_videos=videos)
        train = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                            warmup_steps=max(1, min(50, cfg.steps // 10)), ckpt_every=max(1, cfg.steps // 4),
                            keep_last=1, log_every=max(1, cfg.steps // 20), seed=cfg.seed, out_dir=str(run_dir))
        flow = FlowConfig(mode_probs=(0.0, 0.0, 1.0, 0.0, 0.0), max_context=2)  # extension from 3 frames only
        trainer = build_dit_run(SIZES[size], cfg.vae or _default_vae(), data, train, flow=flow,
                                resume=done is not None)
        trainer.fit()
    conf = json.loads((run_dir / "config.json").read_text())
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    from kinema.models.dit import DiT

    params = sum(p.numel() for p in DiT(DiTConfig(**{**conf["model"], "grad_checkpointing": False})).parameters())
    return {"params": params, "final_loss": metrics[-1]["loss"] if metrics else None,
            "train_wall_s": metrics[-1].get("wall_s") if metrics else None,
            "epochs": round(cfg.steps * cfg.batch_size / videos, 2)}


def eval_cell(cfg: ScaleConfig, run_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """Phyworld's protocol on the cell's scenario, ID and OOD; cached in run_dir/scale_eval.json."""
    from kinema.eval.continuation import load_model
    from kinema.eval.physics import PhysicsEvalConfig, evaluate_physics

    cache = run_dir / "scale_eval.json"
    key = {"n": cfg.n, "steps": cfg.eval_steps, "size": list(cfg.size), "scenario": cfg.scenario,
           "train_steps": cfg.steps}
    if cache.is_file():
        got = json.loads(cache.read_text())
        if got.get("key") == key:
            return got["summary"]
    ecfg = PhysicsEvalConfig(scenarios=(cfg.scenario,), splits=("id", "ood"), n=cfg.n, size=cfg.size, examples=0)
    results, _ = evaluate_physics(load_model(str(run_dir), steps=cfg.eval_steps), ecfg, progress=progress)
    summary = results["summary"][cfg.scenario]
    cache.write_text(json.dumps({"key": key, "summary": summary}, indent=1), encoding="utf-8")
    return summary


def _default_vae() -> str:
    from kinema.pipeline import default_model_dir

    d = default_model_dir()
    if d is None:
        raise ValueError("this checkout has no shipped model; pass --vae RUN_OR_MODEL_DIR")
    return str(d)


# ----------------------------------------------------------------------------------------------------------------------
# The grid
# ----------------------------------------------------------------------------------------------------------------------


def run_scale_study(cfg: ScaleConfig, runs: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train and evaluate every (size, videos) cell; returns a JSON-ready record of the whole study."""
    runs = Path(runs)
    t0 = time.perf_counter()
    cells = []
    for size in cfg.sizes:
        for videos in cfg.videos:
            run_dir = runs / cell_name(size, videos)
            if progress:
                print(f"scale study: cell {cell_name(size, videos)} ({len(cells) + 1}/"
                      f"{len(cfg.sizes) * len(cfg.videos)})", flush=True)
            record = train_cell(cfg, size, videos, run_dir, progress=progress)
            summary = eval_cell(cfg, run_dir, progress=progress)
            cells.append({"size": size, "videos": videos, "run": str(run_dir), **record,
                          **{sp: _errors(summary[sp]) for sp in ("id", "ood")},
                          "ood_over_id": summary["ood_over_id"]["model"]["ratio"]})
    floors = {sp: {src: cells[0][sp][src] for src in ("gt", "vae")} for sp in ("id", "ood")} if cells else {}
    return {"kind": "scale", "config": asdict(cfg), "cells": cells, "floors": floors,
            "phyworld": {"numbers": PHYWORLD[cfg.scenario], "params": PHYWORLD_PARAMS, "videos": PHYWORLD_VIDEOS,
                         "size": "128x128"},
            "runtime": {"total_s": round(time.perf_counter() - t0, 1)}}


def _errors(split_summary: dict) -> dict[str, Any]:
    e = {src: split_summary[src]["velocity_error"]["mean"] for src in ("model", "gt", "vae")}
    return {**e, "ci95": split_summary["model"]["velocity_error"]["ci95"],
            "missing_rate": split_summary["model"]["missing_rate"]["mean"]}


# ----------------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------------


def write_scale_report(study: dict[str, Any], out_dir: str | Path) -> Path:
    """results.json, scale.png (error against videos per size and against params per pool, ID and OOD, with the
    floors and Phyworld's points) and report.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(study, indent=1), encoding="utf-8")
    cfg, cells = study["config"], study["cells"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, size in enumerate(cfg["sizes"]):
        row = sorted((c for c in cells if c["size"] == size), key=lambda c: c["videos"])
        label = f"d{size} ({row[0]['params'] / 1e6:.2f}M)" if row else f"d{size}"
        for sp, style in (("id", "-o"), ("ood", "--s")):
            axes[0].plot([c["videos"] for c in row], [c[sp]["model"] for c in row], style, color=colors[i % 10],
                         label=f"{label} {sp.upper()}")
    for j, videos in enumerate(cfg["videos"]):
        col = sorted((c for c in cells if c["videos"] == videos), key=lambda c: c["params"])
        for sp, style in (("id", "-o"), ("ood", "--s")):
            axes[1].plot([c["params"] for c in col], [c[sp]["model"] for c in col], style,
                         color=colors[(j + 4) % 10], label=f"{videos} videos {sp.upper()}")
    ph = study["phyworld"]
    for name, (e_id, e_ood) in ph["numbers"].items():
        for ax, x in ((axes[0], ph["videos"]), (axes[1], ph["params"][name])):
            ax.plot([x], [e_id], "k*", ms=9)
            ax.plot([x], [e_ood], "kx", ms=8)
            ax.annotate(f"Phyworld {name}", (x, e_ood), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for ax, xl in ((axes[0], "training videos"), (axes[1], "DiT parameters")):
        ax.plot([], [], "k*", label=f"Phyworld ID ({ph['size']}, 3M videos)")
        ax.plot([], [], "kx", label="Phyworld OOD")
        for sp, ls in (("id", ":"), ("ood", "-.")):
            if study["floors"].get(sp, {}).get("gt") is not None:
                ax.axhline(study["floors"][sp]["gt"], color="grey", ls=ls, lw=1, label=f"GT floor {sp.upper()}")
        ax.set(xscale="log", yscale="log", xlabel=xl, ylabel="velocity error (world units / s)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title(f"{cfg['scenario']}: error vs data (per model size)")
    axes[1].set_title(f"{cfg['scenario']}: error vs size (per data amount)")
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=110)
    plt.close(fig)

    w, h = cfg["size"]
    lines = [f"# Scale study: {cfg['scenario']} motion, {w}x{h}", "",
             f"Every cell trained {cfg['steps']} steps x batch {cfg['batch_size']} (lr {cfg['lr']}) on a pool of N "
             f"`physics/{cfg['scenario']}` videos, {cfg['frames']} frames, extension from 3 frames only; evaluated "
             f"with Phyworld's protocol on {cfg['n']} clips per split, {cfg['eval_steps']} sampler steps. Machine: "
             f"{study.get('machine', 'not recorded')}. Study wall time {study['runtime']['total_s'] / 60:.1f} min.",
             "", "![scale](scale.png)", "",
             "| width | params | videos | epochs | final loss | ID error [95% CI] | OOD error | OOD/ID | ID missed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        lo, hi = c["id"]["ci95"] if c["id"]["ci95"] else (None, None)
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None else ""
        lines.append(f"| {c['size']} | {c['params'] / 1e6:.2f}M | {c['videos']} | {c['epochs']} | "
                     f"{fmt(c['final_loss'])} | {fmt(c['id']['model'])}{ci} | {fmt(c['ood']['model'])} | "
                     f"{fmt(c['ood_over_id'], 2)} | {fmt(c['id']['missing_rate'], 2)} |")
    fl = study["floors"]
    if fl:
        lines += ["", f"Floors (same clips): ground-truth parse ID {fmt(fl['id']['gt'])}, OOD {fmt(fl['ood']['gt'])}; "
                  f"VAE reconstruction ID {fmt(fl['id']['vae'])}, OOD {fmt(fl['ood']['vae'])}."]
    lines += ["", f"Phyworld ({ph['size']}, {ph['videos']:,} videos): " + "; ".join(
        f"{k} ({ph['params'][k] / 1e6:.1f}M) ID {v[0]} / OOD {v[1]}" for k, v in ph["numbers"].items()) + ".",
        "", "Reproduce: `kinema eval scale " + _cli_args(cfg) + "`", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return out / "report.md"


def fmt(x, d: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{d}f}"


def _cli_args(cfg: dict) -> str:
    w, h = cfg["size"]
    return (f"--sizes {','.join(map(str, cfg['sizes']))} --videos {','.join(map(str, cfg['videos']))} "
            f"--scenario {cfg['scenario']} --steps {cfg['steps']} --batch-size {cfg['batch_size']} --lr {cfg['lr']} "
            f"--size {w}x{h} --frames {cfg['frames']} -n {cfg['n']} --eval-steps {cfg['eval_steps']} "
            f"--seed {cfg['seed']}")


def with_defaults(**kw) -> ScaleConfig:
    """A ScaleConfig from CLI values, None meaning the default."""
    return replace(ScaleConfig(), **{k: v for k, v in kw.items() if v is not None})
