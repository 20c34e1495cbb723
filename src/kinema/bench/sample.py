"""End-to-end time for one clip through kinema's Pipeline, split into its stages, against the number of steps.

Stages: text encoding, denoising and VAE decoding come from the Output's metadata (text_s, denoise_s, decode_s);
writing the file (Output.save: mp4 + sidecar JSON) is timed here. The first generate() call pays one-off costs
(kernel selection, the text encoder's first run) and is reported apart as the warm-up. Peak memory is the process's
peak resident set during each clip (reset before it where Linux allows, see machine.reset_peak_rss).

kinema makes 1 + f*k frames (f = the VAE's time_down), so a requested frame count becomes the nearest valid count
at or above it, and the output says so. With `peer`, diffusers' CogVideoXPipeline (random weights, its transformer
matched to the DiT in width, depth and heads, its VAE in space and time compression, hence in latent token count)
makes one clip of the same size: `peer_steps` steps with classifier-free guidance, prompt embeddings passed in.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kinema.bench.machine import peak_rss_gib, reset_peak_rss, table, timed_cpu

STEPS = (1, 2, 4, 8, 16, 32)


def valid_frames(requested: int, time_down: int) -> int:
    """The smallest 1 + time_down * k that is >= requested (an image, 1 frame, stays 1)."""
    if requested < 1:
        raise ValueError(f"frames must be >= 1, got {requested}")
    return 1 + time_down * -(-(requested - 1) // time_down)


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x -> (a, b); (ys[0], 0) with a single point."""
    if len(set(xs)) < 2:
        return float(ys[0]), 0.0
    b, a = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a), float(b)


# ----------------------------------------------------------------------------------------------------------------------
# kinema
# ----------------------------------------------------------------------------------------------------------------------


def _cpu_clocked(obj: Any, attr: str, clock: dict[str, float], key: str) -> None:
    """Wrap obj.attr (an instance attribute shadowing the method) to add its CPU seconds to clock[key]."""
    fn = getattr(obj, attr)

    def wrapped(*args, **kwargs):
        c0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[key] = clock.get(key, 0.0) + time.process_time() - c0

    setattr(obj, attr, wrapped)


def bench_kinema(pipe, prompt: str, frames: int, size: tuple[int, int], steps: tuple[int, ...], guidance: float,
                 out_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One clip per entry of `steps` (after one warm-up clip). -> (rows, warm-up row).

    Wall times per stage are the pipeline's own; CPU times per stage come from wrapping the text encoder's encode()
    and the pipeline's decode() for the duration (denoising = the rest of generate()).
    """
    clock: dict[str, float] = {}
    _cpu_clocked(pipe.text, "encode", clock, "text")
    _cpu_clocked(pipe, "decode", clock, "decode")

    def clip(n_steps: int, name: str) -> dict[str, Any]:
        reset_peak_rss()
        clock.clear()
        outs = []
        gen_s, gen_cpu = timed_cpu(lambda: outs.append(pipe.generate(prompt, frames=frames, size=size, steps=n_steps,
                                                                      guidance=guidance, seed=0)))
        save_s, save_cpu = timed_cpu(lambda: outs[0].save(out_dir / f"{name}.mp4"))
        tm = outs[0].metadata["timings"]
        denoise_cpu = gen_cpu - clock["text"] - clock["decode"]
        return {"steps": n_steps, "text_s": tm["text_s"], "denoise_s": tm["denoise_s"], "decode_s": tm["decode_s"],
                "save_s": save_s, "total_s": gen_s + save_s, "text_cpu_s": clock["text"], "denoise_cpu_s": denoise_cpu,
                "decode_cpu_s": clock["decode"], "save_cpu_s": save_cpu, "cpu_s": gen_cpu + save_cpu,
                "s_per_step": tm["denoise_s"] / n_steps, "cpu_s_per_step": denoise_cpu / n_steps,
                "peak_rss_gib": peak_rss_gib()}

    try:
        warm = clip(min(steps), "kinema-warmup")
        return [clip(s, f"kinema-{s:02d}") for s in steps], warm
    finally:
        del pipe.text.encode, pipe.decode  # the methods again


# ----------------------------------------------------------------------------------------------------------------------
# The peer
# ----------------------------------------------------------------------------------------------------------------------


def bench_peer(pipe, frames: int, size: tuple[int, int], steps: int, guidance: float, text_len: int,
               out_dir: Path) -> dict[str, Any]:
    """One CogVideoX clip after a 1-step warm-up; denoise / decode split by the end-of-last-step callback."""
    from kinema.bench.peer import PeerShape, build_pipeline, count_params
    from kinema.video import write_video

    C, T, H, W = pipe.latent_shape(frames, size)
    vae = pipe.vae.cfg
    shape = PeerShape.matching(pipe.dit.cfg, T, H, W, text_len, time_down=vae.time_down)
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # random weights, from a fixed seed; the caller's RNG is restored
        torch.manual_seed(0)
        peer = build_pipeline(shape, vae.space_down)
    embeds = torch.randn(1, text_len, shape.text_dim, generator=g)  # (1, L, E) stands in for T5 output
    negative = torch.zeros_like(embeds)  # (1, L, E)

    def run(n_steps: int) -> tuple[np.ndarray, float, float]:
        marks: dict[str, float] = {}

        def on_step_end(p, i, t, kw):
            marks["denoised"], marks["denoised_cpu"] = time.perf_counter(), time.process_time()
            return kw

        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            video = peer(prompt_embeds=embeds, negative_prompt_embeds=negative, num_frames=frames, height=size[1],
                         width=size[0], num_inference_steps=n_steps, guidance_scale=guidance, output_type="np",
                         generator=torch.Generator().manual_seed(0), callback_on_step_end=on_step_end).frames[0]
        end, cpu_end = time.perf_counter(), time.process_time()
        return video, {"denoise_s": marks["denoised"] - t0, "decode_s": end - marks["denoised"],
                       "denoise_cpu_s": marks["denoised_cpu"] - c0, "decode_cpu_s": cpu_end - marks["denoised_cpu"]}

    run(1)  # warm-up
    reset_peak_rss()
    video, tm = run(steps)
    frames_u8 = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)  # (T, H, W, 3)
    save_s, save_cpu = timed_cpu(lambda: write_video(out_dir / "peer.mp4", frames_u8, 8.0))
    return {"steps": steps, "guidance": guidance, "text_s": 0.0, **tm, "text_cpu_s": 0.0, "save_s": save_s,
            "save_cpu_s": save_cpu, "total_s": tm["denoise_s"] + tm["decode_s"] + save_s,
            "cpu_s": tm["denoise_cpu_s"] + tm["decode_cpu_s"] + save_cpu,
            "s_per_step": tm["denoise_s"] / steps, "cpu_s_per_step": tm["denoise_cpu_s"] / steps,
            "peak_rss_gib": peak_rss_gib(), "frames_out": int(frames_u8.shape[0]),
            "transformer_params": count_params(peer.transformer), "vae_params": count_params(peer.vae),
            "video_tokens": shape.video_tokens, "text_tokens": text_len}


# ----------------------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------------------


def run_sample(model: str | Path | None, *, frames: int = 16, size: tuple[int, int] = (64, 64),
               steps: tuple[int, ...] = STEPS, guidance: float = 3.0, prompt: str = "a red ball moves right",
               peer: bool = False, peer_steps: int = 50, peer_guidance: float = 6.0,
               out_dir: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """-> (result, table) for `kinema bench sample`."""
    from kinema.pipeline import Pipeline, default_model_dir

    if not steps or min(steps) < 1:
        raise ValueError(f"steps must be a non-empty list of integers >= 1, got {steps}")
    path = Path(model) if model else default_model_dir()
    if path is None:
        raise ValueError("no shipped model in this checkout yet: pass --model RUN_OR_MODEL_DIR")
    if peer:
        from kinema.bench.peer import import_diffusers

        import_diffusers()  # fail before the slow part
    t0 = time.perf_counter()
    pipe = Pipeline.from_pretrained(path)
    load_s = time.perf_counter() - t0
    n = valid_frames(frames, pipe.vae.cfg.time_down)
    C, T, H, W = pipe.latent_shape(n, size)
    pt, ph, pw = pipe.dit.cfg.patch
    tokens = (T // pt) * (H // ph) * (W // pw)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        rows, warm = bench_kinema(pipe, prompt, n, size, tuple(steps), guidance, out)
        text_len = int(pipe.text.encode([prompt]).tokens.shape[1])
        peer_row = bench_peer(pipe, n, size, peer_steps, peer_guidance, text_len, out) if peer else None

    a, b = _fit_line([r["steps"] for r in rows], [r["denoise_s"] for r in rows])
    a_cpu, b_cpu = _fit_line([r["steps"] for r in rows], [r["denoise_cpu_s"] for r in rows])
    result: dict[str, Any] = {
        "model": str(path), "prompt": prompt, "frames_requested": frames, "frames": n, "size": list(size),
        "latent": [C, T, H, W], "video_tokens": tokens, "guidance": guidance, "load_s": load_s,
        "dit_params": sum(p.numel() for p in pipe.dit.parameters()),
        "vae_params": sum(p.numel() for p in pipe.vae.parameters()),
        "warmup": warm, "kinema": rows, "peer": peer_row,
        "denoise_fit": {"fixed_s": a, "s_per_step": b, "fixed_cpu_s": a_cpu, "cpu_s_per_step": b_cpu},
    }
    note = f"frames: {n}" + (f" (requested {frames}; this model makes 1 + {pipe.vae.cfg.time_down}k frames)"
                             if n != frames else "")
    wall_cols = ["steps", "text_s", "denoise_s", "decode_s", "save_s", "total_s", "s_per_step", "peak_rss_gib"]
    cpu_cols = ["steps", "text_cpu_s", "denoise_cpu_s", "decode_cpu_s", "save_cpu_s", "cpu_s", "cpu_s_per_step"]
    all_rows = [{**warm, "steps": "warm-up"}] + rows + ([{**peer_row, "steps": f"peer {peer_steps}"}] if peer else [])
    text = (f"model {path}: DiT {result['dit_params']:,} params, VAE {result['vae_params']:,}; {note}; "
            f"{size[0]}x{size[1]}; latent {C}x{T}x{H}x{W} = {tokens} tokens; guidance {guidance:g} "
            f"(cond + uncond in one batch-2 forward); load {load_s:.2f} s\n"
            + table(all_rows, wall_cols) + "\nby CPU time of the process (the steadier on a shared machine):\n"
            + table(all_rows, cpu_cols)
            + f"\nkinema denoising fit: {a:.3g} s + {b:.3g} s/step (CPU time: {a_cpu:.3g} s + {b_cpu:.3g} s/step)")
    if peer_row:
        by_steps = {r["steps"]: r for r in rows}
        ref = by_steps.get(pipe.default_steps, rows[-1])  # the model's default: what a user of kinema generate waits
        result["kinema_reference_steps"] = ref["steps"]
        result["peer_over_kinema_total"] = peer_row["total_s"] / ref["total_s"]
        result["peer_over_kinema_cpu"] = peer_row["cpu_s"] / ref["cpu_s"]
        result["peer_over_kinema_per_step"] = peer_row["s_per_step"] / b if b > 0 else None
        result["peer_over_kinema_per_step_cpu"] = peer_row["cpu_s_per_step"] / b_cpu if b_cpu > 0 else None
        fmt = lambda v: "n/a" if v is None else f"{v:.3g}"  # noqa: E731 (a fit over noisy wall times can fail)
        per_step = (f"{fmt(result['peer_over_kinema_per_step'])} "
                    f"({fmt(result['peer_over_kinema_per_step_cpu'])} by CPU time)")
        text += (f"\npeer = diffusers CogVideoXPipeline, random weights: transformer "
                 f"{peer_row['transformer_params']:,} params, VAE {peer_row['vae_params']:,}, "
                 f"{peer_row['video_tokens']} video + {peer_row['text_tokens']} text tokens, guidance {peer_guidance:g}"
                 f"\npeer / kinema, one clip each ({peer_steps} vs {ref['steps']} steps): "
                 f"{result['peer_over_kinema_total']:.3g} ({result['peer_over_kinema_cpu']:.3g} by CPU time); "
                 f"per denoising step: {per_step}")
    return result, text
