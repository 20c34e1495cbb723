"""Markdown reports with plots for `kinema eval physics` and `kinema eval scenes`.

    write_physics_report(results, "eval-physics/", examples)   # -> report.md + PNGs (results.json is the CLI's)

Every number in a report comes from the results dict it is given (the same one written as results.json), so a
report can be rebuilt from results.json alone (without the example frames). Figures are drawn on matplotlib Figure
objects with the Agg renderer; nothing touches pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

# Phyworld's finding (ANCHORS.md): OOD error is 10-34x the ID error, and scale does not fix it
PHYWORLD_OOD_ID = (10.0, 34.0)
COLORS = {"id": "#1f77b4", "ood": "#ff7f0e", "gt": "#222222", "vae": "#2ca02c", "model": "#9467bd"}
TRACK_GT, TRACK_MODEL = (0, 0, 0), (230, 0, 180)


def _figure(w: float, h: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _fmt(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(d: dict | None, key: str = "mean", digits: int = 4) -> str:
    if not d or d.get(key) is None:
        return "n/a"
    lo, hi = d["ci95"]
    return f"{d[key]:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _fidelity(src: dict | None) -> str:
    """"24.1 / 0.912" from a summary entry with psnr_db and ssim."""
    if not src or not src.get("psnr_db") or src["psnr_db"]["mean"] is None:
        return "n/a"
    return f"{src['psnr_db']['mean']:.1f} / {src['ssim']['mean']:.3f}"


def _err(d: dict | None, key: str = "mean") -> tuple[float, float, float]:
    """(value, below, above) for an errorbar; NaN when missing."""
    if not d or d.get(key) is None:
        return np.nan, 0.0, 0.0
    v, (lo, hi) = d[key], d["ci95"]
    return v, max(v - lo, 0.0), max(hi - v, 0.0)

# ----------------------------------------------------------------------------------------------------------------------
# Example frames with parsed tracks
# ----------------------------------------------------------------------------------------------------------------------


def draw_tracks(frame: np.ndarray, tracks: Sequence[tuple[np.ndarray, tuple[int, int, int]]], upto: int,
                scale: int) -> np.ndarray:
    """uint8 (H, W, 3) frame, upscaled `scale`x (nearest), with each track (T, K, 2) pixel positions drawn as a
    polyline over frames 0..upto and a dot at `upto` (NaN positions are skipped)."""
    h, w = frame.shape[:2]
    img = Image.fromarray(frame).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for track, rgb in tracks:
        for k in range(track.shape[1]):
            pts = [(float(x) * scale, float(y) * scale) for x, y in track[:upto + 1, k] if np.isfinite(x)]
            if len(pts) > 1:
                draw.line(pts, fill=rgb, width=1)
            if pts and np.isfinite(track[upto, k]).all():
                x, y = pts[-1]
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=rgb)
    return np.asarray(img)


def examples_sheet(examples: Sequence[dict], label_key: str, path: Path, *, frames: int = 32,
                   context: int = 3) -> Path | None:
    """A contact sheet: per example, a ground-truth row (with its parsed track, black) and a model row (the same
    black track, and the parse of the model's video in magenta), at 10 frames from the context to the end."""
    from kinema.video import contact_sheet

    if not examples:
        return None
    pick = sorted({0, context - 1, *np.linspace(context, frames - 1, 8).round().astype(int).tolist()})
    cells, labels = [], []
    for ex in examples:
        h = ex["gt"].shape[1]
        scale = max(1, 128 // h)
        name = ex[label_key] if "split" not in ex else f"{ex[label_key]} {ex['split']}"
        for row, video in (("truth", ex["gt"]), ("model", ex["model"])):
            tracks = [(ex["gt_track"], TRACK_GT)] + ([(ex["model_track"], TRACK_MODEL)] if row == "model" else [])
            for k in pick:
                cells.append(draw_tracks(video[k], tracks, k, scale))
                labels.append(f"{name} {row} t={k}" if k == pick[0] else f"t={k}{' (ctx)' if k < context else ''}")
    Image.fromarray(contact_sheet(cells, cols=len(pick), labels=labels)).save(path)
    return path

# ----------------------------------------------------------------------------------------------------------------------
# Physics
# ----------------------------------------------------------------------------------------------------------------------


def _physics_plots(res: dict, out: Path) -> list[tuple[str, str]]:
    summ = res["summary"]
    scenarios = list(summ)
    splits = [s for s in ("id", "ood") if s in summ[scenarios[0]]]
    figs = []

    # 1. velocity error per scenario and split, with both floors
    fig, (ax,) = _figure(7.5, 4.2)
    width = 0.8 / len(splits)
    for j, sp in enumerate(splits):
        x = np.arange(len(scenarios)) + (j - (len(splits) - 1) / 2) * width
        v = [_err(summ[s][sp]["model"]["velocity_error"]) for s in scenarios]
        ax.bar(x, [a[0] for a in v], width * 0.9, color=COLORS[sp], label=f"model, {sp.upper()}",
               yerr=np.array([[a[1] for a in v], [a[2] for a in v]]), capsize=3)
        for src, marker in (("gt", "_"), ("vae", "x")):
            f = [summ[s][sp][src]["velocity_error"]["mean"] for s in scenarios]
            f = [np.nan if a is None else a for a in f]
            ax.scatter(x, f, marker=marker, s=220 if marker == "_" else 40, color=COLORS[src], zorder=3,
                       label=f"{'ground-truth parse' if src == 'gt' else 'VAE reconstruction'} floor" if j == 0
                       else None)
    ax.set_xticks(np.arange(len(scenarios)), scenarios)
    ax.set_yscale("log")
    ax.set_ylabel("velocity error |v - v̂| (world units / s)")
    ax.set_title(f"{res['model']}: velocity error, mean and 95% bootstrap CI")
    ax.legend(fontsize=8)
    fig.savefig(out / "physics_errors.png")
    figs.append(("Velocity error per scenario, with the parse and VAE floors", "physics_errors.png"))

    # 2. OOD / ID
    if "ood_over_id" in summ[scenarios[0]]:
        fig, (ax,) = _figure(6.5, 3.8)
        x = np.arange(len(scenarios))
        for j, src in enumerate(("model", "gt", "vae")):
            v = [_err(summ[s]["ood_over_id"][src], "ratio") for s in scenarios]
            ax.errorbar(x + (j - 1) * 0.15, [a[0] for a in v], yerr=np.array([[a[1] for a in v], [a[2] for a in v]]),
                        fmt="o", capsize=3, color=COLORS[src],
                        label={"model": "model", "gt": "ground-truth parse", "vae": "VAE reconstruction"}[src])
        ax.axhspan(*PHYWORLD_OOD_ID, color="#ff7f0e", alpha=0.12, label="Phyworld DiT-S/L (10-34x)")
        ax.axhline(1.0, color="#888", lw=0.8)
        ax.set_xticks(x, scenarios)
        ax.set_yscale("log")
        ax.set_ylabel("OOD error / ID error")
        ax.set_title("Out-of-distribution penalty")
        ax.legend(fontsize=8)
        fig.savefig(out / "physics_ood_id.png")
        figs.append(("OOD / ID error ratio (Phyworld's finding shaded)", "physics_ood_id.png"))

    # 3. predicted vs true velocity
    fig, axes = _figure(3.3 * len(scenarios), 3.4, ncols=len(scenarios))
    for ax, s in zip(axes, scenarios):
        lim = 1.0
        for sp in splits:
            v = np.array([p[2:] for c in res["clips"] if c["scenario"] == s and c["split"] == sp
                          for p in c["model"]["velocities"]]).reshape(-1, 4)
            for c, marker in ((0, "o"), (1, "^")):
                if len(v) and (c == 0 or np.abs(v[:, 1]).max() > 0):
                    ax.scatter(v[:, c], v[:, 2 + c], s=5, alpha=0.4, color=COLORS[sp], marker=marker,
                               label=f"{sp.upper()} {'vx' if c == 0 else 'vy'}")
                    lim = max(lim, float(np.abs(v[:, c]).max()) * 1.1)
        ax.plot([-lim, lim], [-lim, lim], color="#444", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(s)
        ax.set_xlabel("true vx, vy (units/s)")
        ax.set_ylabel("parsed from the model's video")
        ax.legend(fontsize=7, markerscale=3)
    fig.savefig(out / "physics_velocity_scatter.png")
    figs.append(("Predicted vs true velocity components (every scored frame and ball)", "physics_velocity_scatter.png"))
    return figs


def write_physics_report(results: dict[str, Any], out_dir: str | Path, examples: Sequence[dict] = ()) -> Path:
    """report.md and its PNGs for kinema.eval.physics results; returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = _physics_plots(results, out)
    pr = results["protocol"]
    sheet = examples_sheet(examples, "scenario", out / "physics_examples.png", frames=pr["frames"],
                           context=pr["context"])
    if sheet:
        figs.append(("Example clips: truth (top) and model (bottom); black track = parse of the truth, magenta "
                     "(model rows) = parse of the model's video", sheet.name))
    summ, rt = results["summary"], results["runtime"]
    w, h = pr["size"]
    lines = [f"# Physical-law evaluation (Phyworld protocol): {results['model']}", "",
             f"{pr['n']} clips per scenario and split, {w}x{h}, {pr['frames']} frames at {pr['fps']:g} fps; the model "
             f"sees the first {pr['context']} frames and the caption and generates the rest. Velocity error is mean "
             f"|v - v̂| in world units/s (the world is 10 units wide) over {pr['scored_frames']}. Floors: the same "
             "parser on the ground truth (`gt`) and on its VAE reconstruction (`vae`). Brackets: 95% bootstrap "
             f"intervals over clips (seed {pr['bootstrap']['seed']}). Runtime {rt['total_s']:.0f} s, "
             f"{_fmt(rt['generate_s_per_clip'], 2)} s per generated clip.", "",
             "| scenario | split | model error | GT floor | VAE floor | repeat-last | model / GT | model / VAE | "
             "model / repeat-last | motion along truth | missed | radius drift | momentum err | energy err | "
             "PSNR dB / SSIM (VAE) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s, cell in summ.items():
        for sp in ("id", "ood"):
            if sp not in cell:
                continue
            e = cell[sp]
            m = e["model"]
            lines.append(
                f"| {s} | {sp.upper()} | {_ci(m['velocity_error'])} | {_fmt(e['gt']['velocity_error']['mean'])} | "
                f"{_fmt(e['vae']['velocity_error']['mean'])} | {_fmt(e['repeat_last']['velocity_error']['mean'])} | "
                f"{_ci(e['ratio_to_gt'], 'ratio', 1)} | {_ci(e['ratio_to_vae'], 'ratio', 1)} | "
                f"{_ci(e['ratio_to_repeat_last'], 'ratio', 2)} | {_ci(m['motion_along'], digits=2)} | "
                f"{_fmt(m['missing_rate']['mean'], 3)} | "
                f"{_fmt(m['radius_drift']['mean'], 3)} | {_fmt(m.get('momentum_error', {}).get('mean'), 3)} | "
                f"{_fmt(m.get('energy_error', {}).get('mean'), 3)} | {_fidelity(m)} ({_fidelity(e['vae'])}) |")
    if any("ood_over_id" in c for c in summ.values()):
        lines += ["", "OOD / ID velocity-error ratio (Phyworld: 10-34x for DiT-S/L, not fixed by scale):", "",
                  "| scenario | model | GT floor | VAE floor |", "|---|---|---|---|"]
        for s, cell in summ.items():
            r = cell["ood_over_id"]
            lines.append(f"| {s} | {_ci(r['model'], 'ratio', 1)} | {_ci(r['gt'], 'ratio', 2)} | "
                         f"{_ci(r['vae'], 'ratio', 2)} |")
    lines += ["", "`repeat-last`: the last context frame held, so nothing moves and the error is the balls' true "
              "speed; a model / repeat-last ratio not below 1 means the model's motion is no better than none. "
              "`motion along truth`: per clip the median of (v̂ · v) / |v|² (1 = the true motion, 0 = none, "
              "between = the right way too slowly, < 0 = the wrong way), robust to the parser's jumps.",
              "`missed`: share of scorable (frame, ball) pairs where the parser found no ball in the model's "
              "video. `radius drift`: mean |r_k / r_0 - 1| over generated frames. Momentum / energy: post-collision, "
              "symmetric relative errors against the truth, in [0, 2] (2: all lost or made up). PSNR / SSIM: "
              "generated frames against the true ones (100 dB = identical).", ""]
    for title, name in figs:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

# ----------------------------------------------------------------------------------------------------------------------
# Scenes
# ----------------------------------------------------------------------------------------------------------------------


def write_scenes_report(results: dict[str, Any], out_dir: str | Path, examples: Sequence[dict] = ()) -> Path:
    """report.md and its PNGs for kinema.eval.scenes results; returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summ, pr, rt = results["summary"], results["protocol"], results["runtime"]
    flags = pr["flags"]
    allc = summ["all"]
    sources = [s for s in ("model", "gt", "vae") if allc.get(s)]
    names = {"model": results["model"], "gt": "ground truth", "vae": "VAE reconstruction"}

    fig, (ax,) = _figure(7.5, 4.0)
    rows = ["abnormal", *flags, "permanence failed"]
    y = np.arange(len(rows))
    for j, src in enumerate(sources):
        vals = []
        for r in rows:
            if r == "abnormal":
                vals.append(_err(allc[src]["abnormal"]))
            elif r == "permanence failed":
                v, lo, hi = _err(allc[src]["permanence"])
                vals.append((1 - v, hi, lo))
            else:
                vals.append(_err(allc[src]["flags"][r]))
        ax.barh(y + (j - (len(sources) - 1) / 2) * 0.25, [v[0] for v in vals], 0.24, color=COLORS[src],
                xerr=np.array([[v[1] for v in vals], [v[2] for v in vals]]), capsize=2, label=names[src])
    ax.set_yticks(y, rows)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of clips (permanence: of re-emergences)")
    ax.set_title("Abnormal events on held-out scene templates (95% CI)")
    ax.legend(fontsize=8)
    fig.savefig(out / "scenes_flags.png")
    figs = [("Abnormal events and object permanence", "scenes_flags.png")]

    templates = [t for t in summ if t != "all"]
    fig, (ax,) = _figure(6.0, 3.2)
    x = np.arange(len(templates))
    for j, src in enumerate(sources):
        v = [_err(summ[t][src]["abnormal"]) for t in templates]
        ax.bar(x + (j - (len(sources) - 1) / 2) * 0.25, [a[0] for a in v], 0.24, color=COLORS[src],
               yerr=np.array([[a[1] for a in v], [a[2] for a in v]]), capsize=2, label=names[src])
    ax.set_xticks(x, templates)
    ax.set_ylim(0, 1)
    ax.set_ylabel("abnormal rate")
    ax.legend(fontsize=8)
    fig.savefig(out / "scenes_templates.png")
    figs.append(("Abnormal rate per held-out template", "scenes_templates.png"))
    sheet = examples_sheet(examples, "template", out / "scenes_examples.png", frames=pr["frames"],
                           context=pr["context"])
    if sheet:
        figs.append(("Example clips: truth (top) and model (bottom); tracks are the colour parse's object centres",
                     sheet.name))

    w, h = pr["size"]
    lines = [f"# Abnormal events and object permanence: {results['model']}", "",
             f"{pr['n']} clips per held-out template ({', '.join(templates)}), {w}x{h}, {pr['frames']} frames; the "
             f"model sees the first {pr['context']} frames and the caption. A clip is abnormal when any flag fires "
             "(definitions in kinema/eval/scenes.py); ground-truth video scores 0 by construction of the "
             f"thresholds. Brackets: 95% bootstrap intervals. Runtime {rt['total_s']:.0f} s, "
             f"{_fmt(rt['generate_s_per_clip'], 2)} s per generated clip.", "",
             "| template | source | abnormal | " + " | ".join(flags) + " | permanence | PSNR dB / SSIM |",
             "|---|---|---|" + "---|" * len(flags) + "---|---|"]
    for t, cell in summ.items():
        for src in sources:
            e = cell[src]
            lines.append(f"| {t} | {names[src]} | {_ci(e['abnormal'], digits=2)} | "
                         + " | ".join(_fmt(e["flags"][f]["mean"], 2) for f in flags)
                         + f" | {_ci(e['permanence'], digits=2)} (n={e['permanence']['n']}) | "
                         f"{_fidelity(e) if src != 'gt' else '-'} |")
    lines.append("")
    for title, name in figs:
        lines += [f"## {title}", "", f"![{title}]({name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
