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


def exportable_run(run: Path, kind: str, what: str) -> tuple[dict, int]:
    """(config, step of the latest checkpoint) of a run directory of `kind`; a clear error for another kind of
    directory or a run with no checkpoint yet."""
    conf = read_config(run)
    if conf.get("kind") != kind:
        raise ValueError(f"{run} is not {what} run directory (config kind {conf.get('kind')!r})")
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise FileNotFoundError(f"{run} holds no checkpoint yet")
    return conf, int(json.loads((ckpt / "trainer.json").read_text())["step"])


def export_pipeline(run_dir: str | Path, out_dir: str | Path, *, name: str | None = None,
                    dtype: torch.dtype = torch.bfloat16, vae: str | Path | None = None) -> Path:
    """vae: another VAE run to ship instead of the DiT's own, e.g. a decoder fine-tune (`kinema train vae --init-from
    ... --freeze-encoder`); its encoder must equal the one the DiT learned the latents of."""
    run = Path(run_dir)
    conf, step = exportable_run(run, "dit", "a DiT")
    vae_run = Path(conf["vae_source"]) if vae is None else Path(vae)
    vae_weights = run_weights(vae_run)
    if vae is not None:
        _check_same_encoder(run_weights(conf["vae_source"]), vae_weights, conf["vae_source"], vae_run)
    vae_conf = read_config(vae_run)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cast = lambda sd: {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}  # noqa
    write_safetensors(out / "dit.safetensors", cast(run_weights(run)), {"step": str(step)})
    write_safetensors(out / "vae.safetensors", cast(vae_weights), {})
    model = {
        "kind": "pipeline", "name": name or out.name, "kinema_version": __version__,
        "dit": conf["model"], "vae": conf["vae"], "text_encoder": conf["text_encoder"], "flow": conf["flow"],
        "data": conf["data"], "train": conf["train"], "dit_step": step,
        "vae_train": {"preset": vae_conf.get("preset"), "data": vae_conf.get("data"), "train": vae_conf.get("train"),
                      "init_from": vae_conf.get("init_from"), "freeze_encoder": bool(vae_conf.get("freeze_encoder"))},
        "dtype": str(dtype).removeprefix("torch."),
    }
    write_json(out / "config.json", model)
    copy_training_record(run, vae_run, out / "training")
    card = out / "README.md"
    if not card.is_file():  # a hand-edited card (with evaluation numbers) is kept on re-export
        card.write_text(_model_card(model, step), encoding="utf-8")
    return out


def _check_same_encoder(base: dict[str, torch.Tensor], new: dict[str, torch.Tensor], base_run, new_run) -> None:
    enc = sorted(k for k in base if k.startswith("encoder."))
    if not enc or enc != sorted(k for k in new if k.startswith("encoder.")) or any(
            not torch.equal(base[k], new[k]) for k in enc):
        raise ValueError(f"{new_run} has another encoder than {base_run}, whose latents the DiT learned; "
                         "only a decoder fine-tune (kinema train vae --init-from ... --freeze-encoder) can replace it")


RUN_KINDS = ("dit", "vae", "play")  # run directories (an exported model ends a lineage)


def _lineage(run: Path, limit: int = 16) -> list[Path]:
    """The run and the runs it was warm-started from (config "init_from"), newest first, while they are run
    directories on this disk."""
    chain = [run]
    while len(chain) < limit:
        try:
            src = read_config(chain[-1]).get("init_from")
        except FileNotFoundError:
            break
        if not src or not (Path(src) / "config.json").is_file() or read_config(src).get("kind") not in RUN_KINDS:
            break
        chain.append(Path(src))
    return chain


def copy_training_record(dit_run: Path, vae_run: Path, dest: Path) -> None:
    """The configs, metrics, loss curves and commands of every run behind the weights -- each model's run and the runs
    it was warm-started from (prefix dit_init1_, dit_init2_, ...) -- so they can be reproduced and read."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for kind, run in (("dit", dit_run), ("vae", vae_run)):
        for k, r in enumerate(_lineage(run)):
            prefix = kind if k == 0 else f"{kind}_init{k}"
            for name in ("config.json", "metrics.jsonl", "loss.png", "command.txt", "train.log"):
                if (r / name).is_file():
                    shutil.copyfile(r / name, dest / f"{prefix}_{name}")


def _model_card(model: dict, step: int) -> str:
    d, data = model["dit"], model["data"]
    return (f"# {model['name']}\n\nA kinema text/image/video-to-video model: a spacetime DiT (dim {d['dim']}, depth "
            f"{d['depth']}, patch {tuple(d['patch'])}) on a causal video VAE ({model['vae_train']['preset']}), "
            f"{step} training steps on the `{data['source']}` worlds at sizes {', '.join(data['sizes'])} and "
            f"{', '.join(str(f) for f in data['frames'])} frames, {data['fps']:g} fps.\n\n"
            "Load it with `kinema.Pipeline.from_pretrained(dir)`. `training/` holds both runs' configs, metrics and "
            "loss curves.\n")
