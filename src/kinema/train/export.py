"""Bundle a DiT run and its VAE into one model directory: config.json, dit.safetensors, vae.safetensors (bf16).

This is the format `Pipeline.from_pretrained` loads and the repo ships; nothing in it is pickled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from kinema import __version__
from kinema.train.checkpoint import latest_checkpoint, plot_loss, write_json, write_safetensors
from kinema.train.recipes import read_config, recalled_path, run_weights, vae_source


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


def cast_state(sd: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The state dict as a model directory stores it: floating tensors in `dtype` (bf16 when shipped), contiguous."""
    return {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in sd.items()}


def export_pipeline(run_dir: str | Path, out_dir: str | Path, *, name: str | None = None,
                    dtype: torch.dtype = torch.bfloat16, vae: str | Path | None = None) -> Path:
    """vae: another VAE run to ship instead of the DiT's own, e.g. a decoder fine-tune (`kinema train vae --init-from
    ... --freeze-encoder`); its encoder must equal the one the DiT learned the latents of."""
    run = Path(run_dir)
    conf, step = exportable_run(run, "dit", "a DiT")
    own_vae = recalled_path(conf["vae_source"], run)
    vae_run = own_vae if vae is None else Path(vae)
    _, vae_weights, vae_conf = vae_source(vae_run)
    if vae is not None:
        _check_same_encoder(vae_source(own_vae)[1], vae_weights, own_vae, vae_run)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "dit.safetensors", cast_state(run_weights(run), dtype), {"step": str(step)})
    write_safetensors(out / "vae.safetensors", cast_state(vae_weights, dtype), {})
    model = {
        "kind": "pipeline", "name": name or out.name, "kinema_version": __version__,
        "dit": conf["model"], "vae": conf["vae"], "text_encoder": conf["text_encoder"], "flow": conf["flow"],
        "data": conf["data"], "train": conf["train"], "dit_step": step, "vae_train": vae_train(vae_conf),
        "dtype": str(dtype).removeprefix("torch."),
    }
    write_json(out / "config.json", model)
    copy_training_record(run, vae_run, out / "training")
    card = out / "README.md"
    if not card.is_file():  # a hand-edited card (with evaluation numbers) is kept on re-export
        card.write_text(_model_card(model, step), encoding="utf-8")
    return out


def vae_train(vae_conf: dict) -> dict:
    """How a shipped VAE was trained, as a model directory's config.json records it ("vae_train")."""
    return {"preset": vae_conf.get("preset"), "data": vae_conf.get("data"), "train": vae_conf.get("train"),
            "init_from": vae_conf.get("init_from"), "freeze_encoder": bool(vae_conf.get("freeze_encoder"))}


def replace_vae(model_dir: str | Path, vae: str | Path, out_dir: str | Path, *, name: str | None = None) -> Path:
    """A copy of an exported model directory (a pipeline or a play model) that ships the VAE of `vae` instead of its
    own: a decoder fine-tune (`kinema train vae --init-from MODEL_DIR --freeze-encoder`), whose encoder and latent
    normalisation must equal the model's, so the DiT's latents stay exactly as they were. The DiT's weights are copied
    as they are; training/ gets the VAE run's record (the model's earlier VAE record renumbered after it). out_dir
    may be model_dir itself: everything is read before anything is written."""
    import shutil

    from safetensors.torch import load_file

    src, out = Path(model_dir), Path(out_dir)
    conf = read_config(src)
    if conf.get("kind") not in MODEL_KINDS:
        raise ValueError(f"{src} is not an exported model directory (config kind {conf.get('kind')!r})")
    vae_cfg, weights, vae_conf = vae_source(vae)
    base = load_file(str(src / "vae.safetensors"))
    dtype = next(iter(base.values())).dtype
    if vae_cfg != conf["vae"]:
        raise ValueError(f"{vae} is another VAE (architecture or latent normalisation) than {src}'s; only a decoder "
                         f"fine-tune of it (kinema train vae --init-from {src} --freeze-encoder) can replace it")
    weights = cast_state(weights, dtype)
    _check_same_encoder(base, weights, src, vae)
    conf = {**conf, "name": name or conf.get("name") or out.name, "vae_train": vae_train(vae_conf)}
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != src.resolve():
        for f in ("dit.safetensors", "README.md"):
            if (src / f).is_file():
                shutil.copyfile(src / f, out / f)
    copy_training_record(src, Path(vae), out / "training")  # reads both records first
    write_safetensors(out / "vae.safetensors", weights, {})
    write_json(out / "config.json", conf)
    return out


def _check_same_encoder(base: dict[str, torch.Tensor], new: dict[str, torch.Tensor], base_run, new_run) -> None:
    enc = sorted(k for k in base if k.startswith("encoder."))
    if not enc or enc != sorted(k for k in new if k.startswith("encoder.")) or any(
            not torch.equal(base[k], new[k]) for k in enc):
        raise ValueError(f"{new_run} has another encoder than {base_run}, whose latents the DiT learned; "
                         "only a decoder fine-tune (kinema train vae --init-from ... --freeze-encoder) can replace it")


RUN_KINDS = ("dit", "vae", "play")  # run directories
MODEL_KINDS = ("pipeline", "play-model")  # exported model directories: a lineage that reaches one ends there
RECORD_FILES = ("config.json", "metrics.jsonl", "loss.png", "command.txt", "train.log")
_RECORD = re.compile(r"^(dit|vae)(?:_init(\d+))?_(.+)$")  # training/ file names: kind, lineage index, what


def _lineage(run: Path, limit: int = 16) -> tuple[list[Path], Path | None]:
    """The run directories behind the weights of `run` -- itself, then the runs it was warm-started from (config
    "init_from"), newest first, while they are on this disk -- and the exported model directory the chain started
    from, if it did (its training/ holds the record of the runs before). `run` may itself be a model directory."""
    chain, path = [], Path(run)
    while len(chain) < limit:
        try:
            conf = read_config(path)
        except FileNotFoundError:
            break
        if conf.get("kind") in MODEL_KINDS:
            return chain, path
        if chain and conf.get("kind") not in RUN_KINDS:
            break
        chain.append(path)
        if not conf.get("init_from"):
            break
        path = recalled_path(conf["init_from"], path)
    return chain, None


def _prefix(kind: str, k: int) -> str:
    return kind if k == 0 else f"{kind}_init{k}"


def copy_training_record(dit_run: Path, vae_run: Path, dest: Path) -> None:
    """The configs, metrics, loss curves and commands of every run behind the weights -- each model's run and the runs
    it was warm-started from (prefix dit_init1_, dit_init2_, ...) -- so they can be reproduced and read. A lineage that
    starts from an exported model directory continues with that model's own record, renumbered after this one's
    runs. Everything is read before anything is written: dest may be the training/ of that very model directory. A
    record with metrics but no loss curve gets one drawn from them."""
    records: dict[str, bytes] = {}
    for kind, run in (("dit", dit_run), ("vae", vae_run)):
        chain, model = _lineage(run)
        for k, r in enumerate(chain):
            for name in RECORD_FILES:
                if (r / name).is_file():
                    records[f"{_prefix(kind, k)}_{name}"] = (r / name).read_bytes()
        if model is not None and (model / "training").is_dir():
            for f in sorted((model / "training").iterdir()):
                m = _RECORD.match(f.name)
                if m and m[1] == kind and f.is_file():
                    records[f"{_prefix(kind, len(chain) + int(m[2] or 0))}_{m[3]}"] = f.read_bytes()
    dest.mkdir(parents=True, exist_ok=True)
    for f in dest.iterdir():  # an earlier export's record: replaced whole, so no file of another lineage stays
        if f.is_file() and _RECORD.match(f.name):
            f.unlink()
    for name, data in records.items():
        (dest / name).write_bytes(data)
    for name in records:  # a run exported before its first curve was drawn: draw it from its metrics
        png = dest / name.replace("_metrics.jsonl", "_loss.png")
        if name.endswith("_metrics.jsonl") and not png.is_file():
            plot_loss(dest / name, png)


def _model_card(model: dict, step: int) -> str:
    d, data = model["dit"], model["data"]
    return (f"# {model['name']}\n\nA kinema text/image/video-to-video model: a spacetime DiT (dim {d['dim']}, depth "
            f"{d['depth']}, patch {tuple(d['patch'])}) on a causal video VAE ({model['vae_train']['preset']}), "
            f"{step} training steps on the `{data['source']}` worlds at sizes {', '.join(data['sizes'])} and "
            f"{', '.join(str(f) for f in data['frames'])} frames, {data['fps']:g} fps.\n\n"
            "Load it with `kinema.Pipeline.from_pretrained(dir)`. `training/` holds both runs' configs, metrics and "
            "loss curves.\n")
