"""Everything a run writes to disk: atomic checkpoints, config.json, metrics.jsonl, loss.png and shippable exports.

A run directory::

    config.json                 the full run config: {"train": TrainConfig, "model": ..., "data": ..., ...}
    metrics.jsonl               one JSON object per log step
    loss.png                    loss curve (log-scale y; raw points and an EMA-smoothed line), refreshed per checkpoint
    ckpt-000123/                one checkpoint after 123 optimizer steps
        model.safetensors       the trained weights (full state dict, fp32 master weights as trained)
        ema.safetensors         EMA weights as a full state dict (buffers from the model); absent when ema_decay = 0
        optimizer.safetensors   optimizer tensors named "state.<parameter name>.<key>" (e.g. state.blocks.0.w.exp_avg)
        trainer.json            step, wall time, RNG states (base64), data state, optimizer scalars and param groups
        config.json             the full run config again, so a checkpoint directory stands alone
    samples/                    whatever sample_fn writes

A checkpoint is written into ``ckpt-000123.tmp/``, every file fsynced, then renamed to ``ckpt-000123/`` in one atomic
step, so a crash leaves either the whole checkpoint or a ``.tmp`` directory that :func:`latest_checkpoint` ignores (and
the next save removes). Nothing is pickled: tensors go to safetensors, everything else to JSON.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

CKPT_RE = re.compile(r"^ckpt-(\d+)$")
TMP_RE = re.compile(r"^ckpt-\d+\.(tmp|old)$")

# ----------------------------------------------------------------------------------------------------------------------
# Small atomic writers
# ----------------------------------------------------------------------------------------------------------------------


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _for_safetensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, no two entries sharing storage (tied weights get their own copy): what save_file accepts."""
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else None
        if ptr is not None and ptr in seen:
            t = t.clone()
        seen.add(ptr)
        out[name] = t
    return out


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    save_file(_for_safetensors(tensors), str(path), metadata={"format": "pt", **(metadata or {})})
    _fsync_path(path)


def write_json(path: Path, obj: Any, *, atomic: bool = True) -> None:
    """JSON with indent; through a temporary file and os.replace when atomic."""
    text = json.dumps(obj, indent=2)
    tmp = path.with_name(path.name + ".tmp") if atomic else path
    with open(tmp, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    if atomic:
        os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------------------
# Optimizer state <-> (named tensors, JSON)
# ----------------------------------------------------------------------------------------------------------------------


def flatten_optimizer(osd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A name-keyed optimizer state dict -> ({"state.<param>.<key>": tensor}, {"param_groups", "scalars"})."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, state in osd["state"].items():
        for key, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"state.{param}.{key}"] = v
            else:
                scalars.setdefault(param, {})[key] = v
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in osd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, dict[str, Any]] = {p: dict(s) for p, s in meta["scalars"].items()}
    for name, t in tensors.items():
        param, key = name.removeprefix("state.").rsplit(".", 1)
        state.setdefault(param, {})[key] = t
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# ----------------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """One checkpoint read back from disk (all tensors on the CPU)."""

    path: Path
    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]  # torch format: {"state": {param name: {key: value}}, "param_groups": [...]}
    trainer: dict[str, Any]  # the parsed trainer.json
    config: dict[str, Any]


def checkpoint_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"ckpt-{step:06d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints (renamed into place, with a trainer.json), oldest first; .tmp/.old directories skipped."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for p in run_dir.iterdir():
        m = CKPT_RE.match(p.name)
        if m and p.is_dir() and (p / "trainer.json").is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    model: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None,
    optimizer: dict[str, Any],
    trainer: dict[str, Any],
    config: dict[str, Any],
    keep_last: int,
) -> Path:
    """Write ckpt-<step>/ atomically, then keep only the newest `keep_last` (0 = all). Returns the checkpoint path."""
    run_dir = Path(run_dir)
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    meta = {"step": str(step)}
    write_safetensors(tmp / "model.safetensors", model, meta)
    if ema is not None:
        write_safetensors(tmp / "ema.safetensors", ema, meta)
    opt_tensors, opt_meta = flatten_optimizer(optimizer)
    write_safetensors(tmp / "optimizer.safetensors", opt_tensors, meta)
    write_json(tmp / "config.json", config, atomic=False)
    write_json(tmp / "trainer.json", {**trainer, "step": step, "optimizer": opt_meta}, atomic=False)
    _fsync_path(tmp)
    old = final.with_name(final.name + ".old")
    if final.exists():  # re-saving the same step: keep the old one until the new one is in place
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_path(run_dir)
    if old.exists():
        shutil.rmtree(old)
    prune_checkpoints(run_dir, keep_last)
    return final


def prune_checkpoints(run_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` checkpoints (0 = keep all) and any leftover .tmp/.old directories."""
    run_dir = Path(run_dir)
    for p in run_dir.iterdir():
        if TMP_RE.match(p.name) and p.is_dir():
            shutil.rmtree(p)
    if keep_last > 0:
        for p in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(p)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint directory (no pickles, no torch.load)."""
    path = Path(path)
    if not (path / "trainer.json").is_file():
        raise ValueError(f"{path} is not a complete checkpoint directory (no trainer.json)")
    trainer = json.loads((path / "trainer.json").read_text())
    ema_file = path / "ema.safetensors"
    return Checkpoint(
        path=path,
        step=int(trainer["step"]),
        model=load_file(str(path / "model.safetensors")),
        ema=load_file(str(ema_file)) if ema_file.is_file() else None,
        optimizer=unflatten_optimizer(load_file(str(path / "optimizer.safetensors")), trainer["optimizer"]),
        trainer=trainer,
        config=json.loads((path / "config.json").read_text()),
    )


# ----------------------------------------------------------------------------------------------------------------------
# Export for shipping
# ----------------------------------------------------------------------------------------------------------------------


def export_model(
    run_dir_or_ckpt: str | Path, out_dir: str | Path, *, dtype: torch.dtype = torch.bfloat16, which: str = "ema"
) -> Path:
    """Write out_dir/config.json + out_dir/model.safetensors (floating tensors cast to `dtype`) from a checkpoint.

    run_dir_or_ckpt: a checkpoint directory, or a run directory (its latest checkpoint is used).
    which: "ema" (the EMA weights) or "model" (the raw trained weights). Returns the written safetensors path.
    """
    if which not in ("ema", "model"):
        raise ValueError(f"which must be 'ema' or 'model', got {which!r}")
    src = Path(run_dir_or_ckpt)
    ckpt = src if (src / "trainer.json").is_file() else latest_checkpoint(src)
    if ckpt is None:
        raise ValueError(f"no checkpoint found in {src}")
    weights = ckpt / f"{which}.safetensors"
    if not weights.is_file():
        raise ValueError(f"{ckpt} has no {weights.name} (ema_decay was 0?); use which='model'")
    step = int(json.loads((ckpt / "trainer.json").read_text())["step"])
    sd = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in load_file(str(weights)).items()}
    config = json.loads((ckpt / "config.json").read_text())
    config["export"] = {"source": ckpt.name, "step": step, "which": which, "dtype": str(dtype).removeprefix("torch.")}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "model.safetensors", sd, {"step": str(step), "which": which})
    write_json(out / "config.json", config)
    return out / "model.safetensors"


# ----------------------------------------------------------------------------------------------------------------------
# Metrics log and loss curve
# ----------------------------------------------------------------------------------------------------------------------


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop lines logged after `step` (written by a run that died after its last checkpoint) before resuming."""
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in keep))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def plot_loss(metrics_path: str | Path, png_path: str | Path, *, smoothing: float | None = None) -> None:
    """loss.png: raw loss points and a bias-corrected EMA of them; log-scale y when every loss is positive.

    smoothing: the EMA's decay; by default its window is 5% of the logged points (no smoothing below 20 points).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in read_metrics(metrics_path) if math.isfinite(r.get("loss", float("nan")))]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    loss = [r["loss"] for r in rows]
    if smoothing is None:
        smoothing = 1.0 - 1.0 / max(1.0, len(loss) / 20)
    smooth, avg = [], 0.0
    for i, v in enumerate(loss):
        avg = smoothing * avg + (1 - smoothing) * v
        smooth.append(avg / (1 - smoothing ** (i + 1)))
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, loss, color="tab:blue", alpha=0.3, linewidth=1, label="loss")
    ax.plot(steps, smooth, color="tab:blue", linewidth=2, label=f"EMA ({smoothing:.3g})")
    if min(loss) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png_path = Path(png_path)
    tmp = png_path.with_name(png_path.stem + ".tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, png_path)
