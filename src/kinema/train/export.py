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
    _copy_training_record(run, Path(conf["vae_source"]), out / "training")
    card = out / "README.md"
    if not card.is_file():  # a hand-edited card (with evaluation numbers) is kept on re-export
        card.write_text(_model_card(model, step), encoding="utf-8")
    return out


def _copy_training_record(dit_run: Path, vae_run: Path, dest: Path) -> None:
    """The configs, metrics and loss curves of both runs, so the weights can be reproduced and their training read."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for prefix, run in (("dit", dit_run), ("vae", vae_run)):
        for name in ("config.json", "metrics.jsonl", "loss.png", "command.txt", "train.log"):
            if (run / name).is_file():
                shutil.copyfile(run / name, dest / f"{prefix}_{name}")


def _model_card(model: dict, step: int) -> str:
    d, data = model["dit"], model["data"]
    return (f"# {model['name']}\n\nA kinema text/image/video-to-video model: a spacetime DiT (dim {d['dim']}, depth "
            f"{d['depth']}, patch {tuple(d['patch'])}) on a causal video VAE ({model['vae_train']['preset']}), "
            f"{step} training steps on the `{data['source']}` worlds at sizes {', '.join(data['sizes'])} and "
            f"{', '.join(str(f) for f in data['frames'])} frames, {data['fps']:g} fps.\n\n"
            "Load it with `kinema.Pipeline.from_pretrained(dir)`. `training/` holds both runs' configs, metrics and "
            "loss curves.\n")
