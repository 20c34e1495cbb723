"""Bundle a DiT run and its VAE into one model directory: config.json, dit.safetensors, vae.safetensors (bf16).

This is the format `Pipeline.from_pretrained` loads and the repo ships; nothing in it is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from kinema import __version__
from kinema.train.checkpoint import latest_checkpoint, write_json, write_safetensors
from kinema.train.recipes import read_config, run_weights


def export_pipeline(run_dir: str | Path, out_dir: str | Path, *, name: str | None = None,
                    dtype: torch.dtype = torch.bfloat16) -> Path:
    run = Path(run_dir)
    conf = read_config(run)
    if conf.get("kind") != "dit":
        raise ValueError(f"{run} is not a DiT run directory (config kind {conf.get('kind')!r})")
    ckpt = latest_checkpoint(run)
    step = int(json.loads((ckpt / "trainer.json").read_text())["step"])
    vae_conf = read_config(conf["vae_source"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cast = lambda sd: {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}  # noqa
    write_safetensors(out / "dit.safetensors", cast(run_weights(run)), {"step": str(step)})
    write_safetensors(out / "vae.safetensors", cast(run_weights(conf["vae_source"])), {})
    model = {
        "kind": "pipeline", "name": name or out.name, "kinema_version": __version__,
        "dit": conf["model"], "vae": conf["vae"], "text_encoder": conf["text_encoder"], "flow": conf["flow"],
        "data": conf["data"], "train": conf["train"], "dit_step": step,
        "vae_train": {"preset": vae_conf.get("preset"), "data": vae_conf.get("data"), "train": vae_conf.get("train")},
        "dtype": str(dtype).removeprefix("torch."),
    }
    write_json(out / "config.json", model)
    return out
