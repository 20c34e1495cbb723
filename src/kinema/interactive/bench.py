"""`kinema bench play`: frames per second of interactive play, batch 1, per size and number of denoising steps.

Each run starts a Session from a ground-truth explore view, warms up, then times `frames` frames of a fixed action
tour: wall-clock latency per frame (mean, p95; what a player sees) and CPU time per frame of this process (with one
thread and a busy machine, the CPU time is the uncontended one-thread latency; the wall time is not). Latency
includes the DiT and the streaming VAE decode; the split is reported. Peak memory is the process's peak RSS.
Without a model directory the real components run at random weights (PlayModel.random: the "S" DiT and the "f4t1"
VAE), which costs exactly what a trained model costs. On a loaded machine, read cpu_ms_median.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from typing import Any

import numpy as np
import torch

BUDGET_MS = 40.0  # per 64x64 frame, decode included
SIZES = ((64, 64), (96, 96), (128, 128))
STEPS = (1, 2, 4)


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_play(model=None, *, sizes: tuple[tuple[int, int], ...] = SIZES, steps: tuple[int, ...] = STEPS,
               frames: int = 30, warmup: int = 5, fuse: bool = True, dit_bf16: bool = False,
               vae_bf16: bool = True, action_guidance: float | None = None,
               reproject: float | None = None) -> dict[str, Any]:
    """Benchmark a PlayModel (None: random weights at the real size). Returns one JSON-serialisable dict."""
    from kinema.interactive.data import SCRIPTED_TOUR
    from kinema.interactive.session import PlayModel, Session
    from kinema.worlds.explore import make_world

    if frames < 1 or warmup < 0 or not sizes or not steps or min(steps) < 1:
        raise ValueError("frames must be >= 1, warmup >= 0, and sizes and steps non-empty with steps >= 1")
    model = model or PlayModel.random()
    guide = model.cfg.action_guidance if action_guidance is None else action_guidance
    reproject = model.cfg.reproject if reproject is None else float(reproject)
    world = make_world("gallery", 10_000_000)
    tour = SCRIPTED_TOUR.split()
    runs = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for w, h in sizes:
        start = world.view(world.start_pose(), w, h)
        for k in steps:
            s = Session(model, "an exhibition hall", seed=0, steps=k, fuse=fuse, dit_bf16=dit_bf16,
                        vae_bf16=vae_bf16, action_guidance=guide, reproject=reproject)
            s.start_from_image(start)
            for i in range(warmup):
                s.step(tour[i % len(tour)])
            wall, cpu, dit, dec = [], [], [], []
            for i in range(frames):
                c0, t0 = time.process_time(), time.perf_counter()
                s.step(tour[(warmup + i) % len(tour)])
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                dit.append(s.timing["dit_s"])
                dec.append(s.timing["decode_s"])
            ms = 1e3 * np.array(wall)
            runs.append({"size": f"{w}x{h}", "steps": k, "fps": float(1e3 / ms.mean()),
                         "latency_ms_mean": float(ms.mean()), "latency_ms_p95": float(np.percentile(ms, 95)),
                         "cpu_ms_mean": float(1e3 * np.mean(cpu)), "cpu_ms_median": float(1e3 * np.median(cpu)),
                         "cpu_fps": float(1.0 / np.mean(cpu)),
                         "dit_ms_mean": float(1e3 * np.mean(dit)), "decode_ms_mean": float(1e3 * np.mean(dec))})
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"device": cpu_name(), "threads": torch.get_num_threads(), "model": model.name,
            "params": {"dit": _count(model.dit), "vae": _count(model.vae)},
            "window": model.dit.window, "action_guidance": guide, "reproject": reproject, "fuse": fuse,
            "dit_bf16": dit_bf16, "vae_bf16": vae_bf16,
            "frames_timed": frames, "budget_ms_64x64": BUDGET_MS, "runs": runs,
            "peak_rss_mb": peak_kb / 1024.0, "loadavg_1min": load_before}


def format_bench(res: dict[str, Any]) -> list[str]:
    """Human-readable lines of a bench_play result."""
    lines = [f"play bench: {res['model']} (DiT {res['params']['dit'] / 1e6:.2f}M, VAE {res['params']['vae'] / 1e6:.2f}M"
             f" params), {res['device']}, {res['threads']} thread(s), action guidance {res.get('action_guidance', 1.0)}"
             f" ({'2 branches, one batch-2 forward' if res.get('action_guidance', 1.0) != 1.0 else 'off'})"
             + (f", reprojected {res['reproject']:g} (decode: with the re-encoding)" if res.get("reproject") else "")
             + f", load average {res['loadavg_1min']}",
             f"  {'size':>8s} {'steps':>5s} {'fps':>6s} {'mean ms':>8s} {'p95 ms':>7s} {'cpu ms':>7s} "
             f"{'cpu med':>7s} {'dit ms':>7s} {'decode':>7s}"]
    for r in res["runs"]:
        lines.append(f"  {r['size']:>8s} {r['steps']:5d} {r['fps']:6.1f} {r['latency_ms_mean']:8.1f} "
                     f"{r['latency_ms_p95']:7.1f} {r['cpu_ms_mean']:7.1f} {r['cpu_ms_median']:7.1f} "
                     f"{r['dit_ms_mean']:7.1f} {r['decode_ms_mean']:7.1f}")
    lines.append(f"  peak memory {res['peak_rss_mb']:.0f} MB (process RSS); budget {res['budget_ms_64x64']:.0f} ms per "
                 "64x64 frame")
    return lines
