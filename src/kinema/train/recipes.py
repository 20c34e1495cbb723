"""The two training recipes, `kinema train vae` and `kinema train dit`: model + objective + data + trainer.

Run directories (what the trainer writes; `config.json` is the full run config):
    VAE run: {"kind": "vae", "model": VAEConfig, "data": DataConfig, "train": TrainConfig}
    DiT run: {"kind": "dit", "model": DiTConfig, "vae": VAEConfig (with latent statistics), "vae_source": path,
              "text_encoder": spec, "flow": FlowConfig, "data": DataConfig, "train": TrainConfig}

DiT objective (rectified flow, t = 1 noise, t = 0 data; see kinema.flow): every sample draws, from its own seed,
its noise, a logit-normal time shifted for its token count, a conditioning mode and whether its caption is dropped
(classifier-free guidance). Modes are what one model needs for every capability: text-to-video (no context),
image-to-video (first latent frame clean), forward and backward extension (first or last frames clean) and
connection/interpolation (both ends clean). Clean context frames get t = 0 and mask = 1, and carry no loss.
With FlowConfig.shortcut_frac > 0 (a DiT with step_embed), that share of samples also draws a step size d and learns
the mean velocity over the jump t -> t - d from two half jumps of the model itself (kinema.flow.shortcut); the rest
learn the velocity (d = 0) as before.

References: Liu et al. 2022 (rectified flow); Esser et al. 2024 (SD3: logit-normal t, resolution shift);
Ho & Salimans 2022 (classifier-free guidance); Chen et al. 2024 (Diffusion Forcing: per-frame times);
Frans et al. 2024 (shortcut models, arXiv 2410.12557).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from kinema.flow.path import interpolate, target_velocity
from kinema.flow.shortcut import sample_step_sizes, shortcut_target
from kinema.flow.timesteps import apply_shift, logit_normal, shift_for
from kinema.train.data import DataConfig, make_data

MODES = ("t2v", "i2v", "extend", "extend_back", "connect")


@dataclass
class FlowConfig:
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift_base_tokens: int = 256  # time shift = sqrt(tokens / base): more tokens -> more time near noise
    text_dropout: float = 0.1  # probability a caption is replaced by the null text (for guidance)
    mode_probs: tuple[float, ...] = (0.4, 0.2, 0.15, 0.1, 0.15)  # over MODES
    max_context: int = 2  # latent frames kept clean by the extension modes
    shortcut_frac: float = 0.0  # share of each batch trained on shortcut self-consistency (needs a step_embed DiT)
    fg_weight: float = 0.0  # extra loss weight where objects are (foreground_mask): w = 1 + fg_weight there

    def __post_init__(self) -> None:
        self.mode_probs = tuple(float(p) for p in self.mode_probs)
        if len(self.mode_probs) != len(MODES) or abs(sum(self.mode_probs) - 1) > 1e-6 or min(self.mode_probs) < 0:
            raise ValueError(f"mode_probs must be {len(MODES)} probabilities summing to 1 over {MODES}")
        if not 0 <= self.text_dropout <= 1:
            raise ValueError(f"text_dropout must be in [0, 1], got {self.text_dropout}")
        if not 0 <= self.shortcut_frac < 1:
            raise ValueError(f"shortcut_frac must be in [0, 1), got {self.shortcut_frac}")
        if not self.fg_weight >= 0:
            raise ValueError(f"fg_weight must be >= 0, got {self.fg_weight}")


def context_mask(mode: str, frames: int, n_context: int) -> torch.Tensor:
    """(T,) float: 1 where latent frame is clean context. A 1-latent-frame clip is always text-to-image."""
    m = torch.zeros(frames)
    if frames < 2 or mode == "t2v":
        return m
    k = max(1, min(n_context, frames - 1))
    if mode == "i2v":
        m[0] = 1
    elif mode == "extend":
        m[:k] = 1
    elif mode == "extend_back":
        m[-k:] = 1
    elif mode == "connect":
        if frames >= 3:
            m[0] = m[-1] = 1
        else:
            m[0] = 1
    else:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    return m


# ----------------------------------------------------------------------------------------------------------------------
# Loading models from run directories or exported model directories
# ----------------------------------------------------------------------------------------------------------------------


def read_config(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"{p} holds no config.json (not a kinema run or model directory)")
    return json.loads((p / "config.json").read_text(encoding="utf-8"))


def recorded_path(path: str | Path, run_dir: str | Path) -> str:
    """`path` as a run's config.json records it ("init_from", "vae_source"): relative to the run directory, so the
    record names no machine path and reads the same in a moved or cloned checkout; absolute only where no relative
    path exists (another drive)."""
    target, base = Path(path).resolve(), Path(run_dir).resolve()
    try:
        return os.path.relpath(target, base)
    except ValueError:
        return str(target)


def recalled_path(value: str, run_dir: str | Path) -> Path:
    """The directory a run config's recorded path names (recorded_path's inverse; an absolute path, as runs before
    it recorded, stays as it is)."""
    return (Path(run_dir) / value).resolve()


def run_weights(run_dir: str | Path) -> dict[str, torch.Tensor]:
    """The EMA weights (or the raw ones when EMA was off) of a run directory's latest checkpoint."""
    from kinema.train.checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(Path(run_dir))
    if ckpt is None:
        raise FileNotFoundError(f"{run_dir} holds no checkpoint yet")
    f = ckpt / "ema.safetensors"
    return load_file(str(f if f.is_file() else ckpt / "model.safetensors"))


def vae_source(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any]]:
    """(VAEConfig dict, weights, how they were trained) of a VAE run directory (its config's "model", its latest EMA
    weights, its config) or of an exported model directory (config.json's "vae", vae.safetensors in the stored dtype,
    config.json's "vae_train"): the two kinds of directory `train dit --vae` and `play train --vae` take."""
    p = Path(path)
    conf = read_config(p)
    if conf.get("kind") == "vae":
        return conf["model"], run_weights(p), conf
    if (p / "vae.safetensors").is_file():
        return conf["vae"], load_file(str(p / "vae.safetensors")), conf.get("vae_train") or {}
    raise ValueError(f"{p} is neither a VAE run directory nor a model directory with vae.safetensors")


def load_vae(path: str | Path, *, cfg_override: dict | None = None):
    """A CausalVAE from a VAE run directory or an exported model directory (vae.safetensors), in eval mode, fp32."""
    from kinema.models.vae import CausalVAE, VAEConfig

    cfg_dict, weights, _ = vae_source(path)
    vae = CausalVAE(VAEConfig(**{**cfg_dict, **(cfg_override or {})}))
    vae.load_state_dict({k: v.float() for k, v in weights.items()})
    return vae.eval().requires_grad_(False)


def load_trained(path: str | Path, conf: dict[str, Any], *, run: bool):
    """(VAE, fp32 DiT weights, DiT config dict) of an exported model directory (config.json's "vae" and "dit",
    vae.safetensors and dit.safetensors, stored in bf16) or, run=True, of a DiT or play run directory (its latest EMA
    weights and config "model"; the VAE it trained on, from "vae_source"). The VAE is fp32, in eval mode, with the
    latent statistics the DiT was trained with. `conf` is the directory's config.json (the caller checks its kind)."""
    p = Path(path)
    if run:
        stats = {k: conf["vae"][k] for k in ("latent_shift", "latent_scale")}
        vae = load_vae(recalled_path(conf["vae_source"], p), cfg_override=stats)
        weights, dit_cfg = run_weights(p), conf["model"]
    else:
        vae, weights, dit_cfg = load_vae(p), load_file(str(p / "dit.safetensors")), conf["dit"]
    return vae, {k: v.float() for k, v in weights.items()}, dit_cfg


@torch.no_grad()
def encode_latents(vae, video: torch.Tensor, *, bf16: bool = False) -> torch.Tensor:
    """Video (B, 3, T, H, W) in [-1, 1] -> normalised latent mean (B, C, t, h, w), in fp32.

    bf16=True runs the encoder under bf16 autocast (about 7x faster on CPU; the DiT recipe uses it when training in
    bf16, where encoding every batch in fp32 would take most of the step)."""
    with torch.autocast(video.device.type, dtype=torch.bfloat16, enabled=bf16):
        mean, _ = vae.encode(video.float())  # (B, C, t, h, w)
    return vae.normalize(mean.float())


@torch.no_grad()
def fit_latent_stats(vae, data, batches: int = 4) -> None:
    """Set the VAE's per-channel latent shift/scale from a few training batches (DiT latents ~ N(0, 1))."""
    zs = []
    for step in range(batches):
        video = data.batch(step, 0, 1)["video"]
        with torch.autocast("cpu", enabled=False):
            zs.append(vae.encode(video.float())[0].flatten(2).transpose(1, 2).reshape(-1, vae.cfg.latent_channels))
    z = torch.cat(zs)  # (N, C)
    vae.set_latent_stats(z.T[None, :, :, None, None])


def restore_or_fit_latent_stats(vae, data, train_cfg, *, resume: bool,
                                init_from: str | Path | None = None) -> None:
    """Give `vae` the latent shift/scale a DiT (or play) run trains with: a resumed run keeps its own (its
    config.json), a warm start keeps those of the run or model it starts from (the statistics its weights learned),
    a new run fits them on a few batches of `data`."""
    out = Path(train_cfg.out_dir)
    saved = out if resume and (out / "config.json").is_file() else init_from
    if saved is None:
        fit_latent_stats(vae, data)
        return
    stats = read_config(saved)["vae"]
    vae.cfg = replace(vae.cfg, latent_shift=stats["latent_shift"], latent_scale=stats["latent_scale"])


# ----------------------------------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------------------------------


class VAEObjective:
    """Reconstruction + KL (kinema.models.vae.vae_loss). fg_weight > 0 weights the pixels of objects (those further
    than 25 levels from the clip's dominant colour, foreground_mask at pixel resolution) 1 + fg_weight times: a ball
    is a few percent of a physics frame, and its outline and colour are what the evaluation's parser reads."""

    def __init__(self, kl_weight: float = 1e-4, edge_weight: float = 0.0, fg_weight: float = 0.0) -> None:
        if not fg_weight >= 0:
            raise ValueError(f"fg_weight must be >= 0, got {fg_weight}")
        self.kl_weight, self.edge_weight, self.fg_weight = kl_weight, edge_weight, fg_weight

    def __call__(self, model, batch, generator):
        from kinema.models.vae import vae_loss

        video = batch["video"]  # (B, 3, T, H, W)
        weight = None
        if self.fg_weight > 0:
            weight = 1 + self.fg_weight * foreground_mask(video, *video.shape[2:])[:, None]  # (B, 1, T, H, W)
        loss, metrics = vae_loss(model, video, generator, kl_weight=self.kl_weight, edge_weight=self.edge_weight,
                                 weight=weight)
        metrics.pop("loss", None)
        return loss, metrics, int(video[:, 0].numel())  # tokens = pixels x frames


class DiTObjective:
    """Flow-matching loss of a DiT on VAE latents of the batch's videos, conditioned on their captions."""

    def __init__(self, vae, text_encoder, flow: FlowConfig, patch: tuple[int, int, int], *,
                 encode_bf16: bool = False) -> None:
        self.vae, self.text, self.flow, self.patch = vae, text_encoder, flow, patch
        self.encode_bf16 = encode_bf16
        self._latents: dict[tuple, torch.Tensor] = {}  # video bytes digest -> latent: a fixed training set
        self.cache_limit = 20_000  # (--num-videos) is encoded once per bucket, not once per step

    def _encode(self, video: torch.Tensor) -> torch.Tensor:
        """Latents of a batch, each clip encoded once: the encoder is deterministic, so a cached latent is exactly the
        one a fresh encode would give, and resume stays exact."""
        import hashlib

        keys = [(tuple(v.shape), hashlib.blake2b(v.numpy().tobytes(), digest_size=16).digest()) for v in video]
        todo = [i for i, k in enumerate(keys) if k not in self._latents]
        if todo:
            fresh = encode_latents(self.vae, video[todo], bf16=self.encode_bf16)  # (n, C, T, H, W)
            for i, z in zip(todo, fresh):
                if len(self._latents) < self.cache_limit:
                    self._latents[keys[i]] = z
            got = dict(zip(todo, fresh))
        else:
            got = {}
        return torch.stack([got[i] if i in got else self._latents[k] for i, k in enumerate(keys)])

    def __call__(self, model, batch, generator):
        from kinema.models.dit import DiTCond
        from kinema.train.trainer import per_sample_generators

        z = self._encode(batch["video"])  # (B, C, T, H, W)
        B, C, T, H, W = z.shape
        with torch.autocast(z.device.type, enabled=False):
            emb = self.text.encode(list(batch["caption"]))
        tokens = (T // self.patch[0]) * (H // self.patch[1]) * (W // self.patch[2])
        shift = shift_for(tokens, self.flow.shift_base_tokens)
        eps, t, mask, drop, sc, dsz = [], [], [], [], [], []
        probs = torch.tensor(self.flow.mode_probs)
        frac = self.flow.shortcut_frac
        for g in per_sample_generators(batch["seed"], z.device):
            eps.append(torch.randn(z.shape[1:], generator=g))  # (C, T, H, W)
            t.append(apply_shift(logit_normal((1,), g, self.flow.logit_mean, self.flow.logit_std), shift))
            mode = MODES[int(torch.multinomial(probs, 1, generator=g))]
            n_ctx = 1 + int(torch.randint(self.flow.max_context, (1,), generator=g))
            mask.append(context_mask(mode, T, n_ctx))
            drop.append(bool(torch.rand((), generator=g) < self.flow.text_dropout))
            if frac > 0:  # drawn last, so runs without shortcut keep their exact random streams
                sc.append(bool(torch.rand((), generator=g) < frac))
                dsz.append(sample_step_sizes(1, g))
        eps = torch.stack(eps)  # (B, C, T, H, W)
        mask = torch.stack(mask)  # (B, T)
        t = torch.cat(t)  # (B,)
        step = None
        if frac > 0:
            is_sc = torch.tensor(sc)  # (B,)
            step = torch.where(is_sc, torch.cat(dsz), torch.zeros(B))  # (B,) d = 0: plain flow matching
            t = torch.where(is_sc, step + (1 - step) * t, t)  # (B,) a jump of d from t must end at t - d >= 0
        t_frames = t[:, None] * (1 - mask)  # (B, T): context frames are clean (t = 0)
        x_t = interpolate(z, eps, t_frames)  # (B, C, T, H, W)
        cond = DiTCond(text=emb.tokens, text_mask=emb.mask, mask=mask, drop_text=torch.tensor(drop), step=step)
        target = target_velocity(z, eps)  # (B, C, T, H, W)
        if step is not None and bool(is_sc.any()):
            idx = is_sc.nonzero()[:, 0]  # (n,)
            target = target.clone()
            target[idx] = shortcut_target(model, x_t[idx], t_frames[idx], cond.take(idx), step[idx], mask[idx])
        v = model(x_t, t_frames, cond).float()  # (B, C, T, H, W)
        w = (1 - mask)[:, None, :, None, None].expand_as(v)  # (B, C, T, H, W): no loss on context frames
        fg = None
        if self.flow.fg_weight > 0:
            fg = foreground_mask(batch["video"], T, H, W)  # (B, T, H, W)
            w = w * (1 + self.flow.fg_weight * fg[:, None])  # (B, C, T, H, W)
        err = (v - target).square() * w  # (B, C, T, H, W)
        # weighted mean per sample, then over samples: equal shards on any number of processes average to the global
        # loss
        per_sample = err.flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1.0)  # (B,)
        loss = per_sample.mean()
        metrics = {"t_mean": float(t.mean()), "context_frac": float(mask.mean())}
        if fg is not None:
            metrics["fg_frac"] = float(fg.mean())
        if step is not None:  # loss = the flow-matching samples' part + the shortcut samples' part
            metrics["sc_share"] = float(is_sc.float().mean())
            metrics["loss_sc_part"] = float((per_sample.detach() * is_sc).sum() / B)
        return loss, metrics, B * tokens


def foreground_mask(video: torch.Tensor, T: int, H: int, W: int, threshold: float = 0.2) -> torch.Tensor:
    """Where the objects of each clip are, on its latent grid: 1 where any pixel that a latent position covers is
    further than `threshold` (in [-1, 1] units; 0.2 = 25 of 255 levels) from the clip's dominant colour (the median
    over all its pixels, i.e. the background of the physics and scenes worlds), else 0.

    video (B, 3, F, Hp, Wp) in [-1, 1] -> float (B, T, H, W). Time follows the causal VAE: latent frame 0 covers video
    frame 0, latent frame k >= 1 covers frames (k - 1) * td + 1 .. k * td, td = (F - 1) / (T - 1).
    An object is a few percent of the pixels, so an MSE over the whole frame learns the background first and lets
    small objects fade (the vanishing balls of kinema-physics v0.4); weighting these positions up counters that.
    """
    B, _, F, Hp, Wp = video.shape
    if Hp % H or Wp % W or (T > 1 and (F - 1) % (T - 1)) or (T == 1 and F != 1):
        raise ValueError(f"video of {F}x{Hp}x{Wp} does not map onto a latent grid of {T}x{H}x{W}")
    bg = video.flatten(2).median(dim=2).values  # (B, 3)
    far = (video - bg[:, :, None, None, None]).abs().amax(1) > threshold  # (B, F, Hp, Wp)
    if T > 1:
        td = (F - 1) // (T - 1)
        far = torch.cat([far[:, :1], far[:, 1:].reshape(B, T - 1, td, Hp, Wp).amax(2)], 1)  # (B, T, Hp, Wp)
    pooled = torch.nn.functional.max_pool2d(far.float().flatten(0, 1)[:, None], (Hp // H, Wp // W))  # (B*T, 1, H, W)
    return pooled.reshape(B, T, H, W)


# ----------------------------------------------------------------------------------------------------------------------
# Sample hooks (called every sample_every steps with the EMA weights)
# ----------------------------------------------------------------------------------------------------------------------


def vae_sample_fn(data):
    def fn(model, step: int, out_dir: Path) -> None:
        from kinema.video import write_video

        video = data.batch(0, 0, 1)["video"][:1]  # (1, 3, T, H, W)
        with torch.no_grad():
            recon = model(video)[0].clamp(-1, 1)
        both = torch.cat([video, recon], dim=-1)[0]  # (3, T, H, 2W): input | reconstruction
        frames = ((both.permute(1, 2, 3, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
        out_dir.mkdir(parents=True, exist_ok=True)
        write_video(out_dir / f"recon-{step:06d}.mp4", frames, data.cfg.fps, metadata={"step": step})
    return fn


def dit_sample_fn(vae, text_encoder, data_cfg: DataConfig, flow: FlowConfig, prompt: str):
    def fn(model, step: int, out_dir: Path) -> None:
        from kinema.pipeline import Pipeline

        pipe = Pipeline(vae=vae, dit=model, text_encoder=text_encoder, flow=flow, data=data_cfg)
        f, h, w = data_cfg.buckets()[0]
        out = pipe.generate(prompt, frames=f, size=(w, h), fps=data_cfg.fps, seed=0, steps=16, guidance=3.0)
        out_dir.mkdir(parents=True, exist_ok=True)
        out.save(out_dir / f"sample-{step:06d}.mp4")
    return fn


# ----------------------------------------------------------------------------------------------------------------------
# Building runs
# ----------------------------------------------------------------------------------------------------------------------


def build_vae_run(preset: str | None, data_cfg: DataConfig, train_cfg, *, resume: bool = False,
                  kl_weight: float = 1e-4, init_from: str | Path | None = None, freeze_encoder: bool = False,
                  fg_weight: float = 0.0):
    """A VAE training run. init_from (a VAE run or model directory) warm-starts from its weights and architecture;
    freeze_encoder trains the decoder only, so the latents (and any DiT trained on them) stay exactly as they were;
    fg_weight weights the objects' pixels up (VAEObjective)."""
    from kinema.models.vae import PRESETS, CausalVAE
    from kinema.train.trainer import Trainer

    init_weights = None
    if init_from is not None:
        base = load_vae(init_from)
        base_preset = _vae_preset(init_from)
        if preset is not None and base_preset is not None and preset != base_preset:
            raise ValueError(f"--preset {preset} does not match --init-from {init_from} (a {base_preset} VAE); "
                             "leave --preset out to take the initial model's")
        preset = preset or base_preset or "custom"
        cfg = base.cfg
        init_weights = base.state_dict()
    else:
        preset = preset or "tiny"
        if preset not in PRESETS:
            raise ValueError(f"unknown VAE preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        cfg = PRESETS[preset]
    saved = Path(train_cfg.out_dir) / "config.json"
    if resume and saved.is_file():  # a resumed run keeps what it was started with
        freeze_encoder = freeze_encoder or bool(json.loads(saved.read_text(encoding="utf-8")).get("freeze_encoder"))
    if freeze_encoder and init_from is None and not resume:
        raise ValueError("--freeze-encoder needs --init-from: a frozen random encoder learns nothing")
    _check_frames(data_cfg, cfg.time_down, cfg.space_down)
    model = CausalVAE(cfg, generator=torch.Generator().manual_seed(train_cfg.seed))
    if init_weights is not None:
        model.load_state_dict(init_weights)
    if freeze_encoder:
        model.encoder.requires_grad_(False)
    data = make_data(data_cfg, train_cfg.batch_size, train_cfg.seed)
    run_config = {"kind": "vae", "preset": preset, "model": asdict(cfg), "data": data_cfg.to_dict(),
                  "objective": {"kl_weight": kl_weight, "fg_weight": fg_weight},
                  "init_from": None if init_from is None else recorded_path(init_from, train_cfg.out_dir),
                  "freeze_encoder": freeze_encoder}
    return Trainer(model, VAEObjective(kl_weight, fg_weight=fg_weight), data, train_cfg, run_config=run_config,
                   sample_fn=vae_sample_fn(data), resume=resume)


def _vae_preset(path: str | Path) -> str | None:
    conf = read_config(path)
    return conf.get("preset") if conf.get("kind") == "vae" else (conf.get("vae_train") or {}).get("preset")


def build_dit_run(preset, vae_path: str | Path, data_cfg: DataConfig, train_cfg, *, resume: bool = False,
                  text_encoder: str = "minilm+zh", flow: FlowConfig | None = None,
                  sample_prompt: str = "a red ball moves right", init_from: str | Path | None = None):
    from kinema.models.dit import PRESETS, DiT
    from kinema.models.text import load_text_encoder
    from kinema.train.trainer import Trainer

    base_cfg = preset if not isinstance(preset, str) else PRESETS.get(preset)  # a name, or a DiTConfig itself
    if base_cfg is None:
        raise ValueError(f"unknown DiT preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    preset = preset if isinstance(preset, str) else "custom"
    flow = flow or FlowConfig()
    vae = load_vae(vae_path)
    _check_frames(data_cfg, vae.cfg.time_down, vae.cfg.space_down)
    data = make_data(data_cfg, train_cfg.batch_size, train_cfg.seed)
    init_weights = dit_weights(init_from) if init_from is not None and not resume else None
    restore_or_fit_latent_stats(vae, data, train_cfg, resume=resume, init_from=init_from)
    # a shortcut objective needs the step-size input; a shortcut model keeps it when warm-started without one
    step_embed = flow.shortcut_frac > 0 or any(k.startswith("step_embed.") for k in (init_weights or {}))
    cfg = replace(base_cfg, latent_channels=vae.cfg.latent_channels,
                  grad_checkpointing=train_cfg.grad_checkpointing, step_embed=step_embed)
    with torch.random.fork_rng(devices=[]):  # initialisation from the run seed; the caller's RNG state is restored
        torch.manual_seed(train_cfg.seed)
        model = DiT(cfg)
    if init_weights is not None:
        load_warm_start(model, init_weights)
    text = load_text_encoder(text_encoder)
    run_config = {"kind": "dit", "preset": preset, "model": asdict(cfg), "vae": asdict(vae.cfg),
                  "init_from": None if init_from is None else recorded_path(init_from, train_cfg.out_dir),
                  "vae_source": recorded_path(vae_path, train_cfg.out_dir), "text_encoder": text_encoder,
                  "flow": asdict(flow),
                  "data": data_cfg.to_dict()}
    objective = DiTObjective(vae, text, flow, cfg.patch, encode_bf16=train_cfg.precision == "bf16")
    return Trainer(model, objective, data, train_cfg, run_config=run_config,
                   sample_fn=dit_sample_fn(vae, text, data_cfg, flow, sample_prompt), resume=resume)


def weights_depth(weights: dict[str, torch.Tensor]) -> int:
    """How many transformer blocks a DiT state dict holds (keys "blocks.<i>. ...")."""
    return len({k.split(".")[1] for k in weights if k.startswith("blocks.")})


def grow_depth(weights: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """A depth-`depth` DiT's weights from a shallower one's that compute exactly the same function (function-preserving
    stacking; Gong et al. 2019, "Efficient Training of BERT by Progressively Stacking", and Chen et al. 2016, Net2Net,
    arXiv 1511.05641, for the identity start). Block i of the source becomes blocks i*k .. i*k + k - 1 (k = depth /
    source depth): the first keeps its weights, the others are copies of it whose adaLN modulation and cross-attention
    output start at zero, so each is the identity (adaLN-zero gates its attention and MLP; the ungated cross-attention
    adds proj(...) = 0) until training moves them. The copies start from trained attention and MLP weights rather than
    random ones. depth must be a multiple of the source depth."""
    d = weights_depth(weights)
    if d == 0 or depth % d:
        raise ValueError(f"a depth-{depth} model cannot grow from a depth-{d} one "
                         f"(the depth must be a multiple of {d})")
    k = depth // d
    out = {key: v for key, v in weights.items() if not key.startswith("blocks.")}
    for key, v in weights.items():
        if not key.startswith("blocks."):
            continue
        _, i, rest = key.split(".", 2)
        for j in range(k):
            silent = j > 0 and (rest.startswith("ada.") or rest.startswith("cross.proj."))
            out[f"blocks.{int(i) * k + j}.{rest}"] = torch.zeros_like(v) if silent else v.clone()
    return out


def load_warm_start(model, weights: dict[str, torch.Tensor]) -> None:
    """Load warm-start weights strictly, except that a new step-size or position embedding or action warp may be
    missing from them: it starts from its own zero-output initialisation, so the model computes exactly what the source
    model did. Weights of a shallower model of the same width grow to the model's depth (grow_depth: the same function,
    more blocks)."""
    source_depth = weights_depth(weights)
    if 0 < source_depth < model.cfg.depth and model.cfg.depth % source_depth == 0:
        extra = model.cfg.depth // source_depth - 1
        print(f"warm start: growing the depth-{source_depth} weights to depth {model.cfg.depth} (each block followed "
              f"by {extra} zero-gated {'copy' if extra == 1 else 'copies'} of itself: the same function)")
        weights = grow_depth(weights, model.cfg.depth)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.startswith(("step_embed.", "pos_embed.")) and ".warp." not in k]
    if missing or unexpected:
        raise ValueError(f"the warm-start weights do not fit this model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]} (same preset and VAE latent channels needed)")


def dit_weights(path: str | Path, *, play: bool = False) -> dict[str, torch.Tensor]:
    """fp32 DiT weights of an exported model directory (dit.safetensors) or a DiT run directory (latest EMA);
    play=True: of an exported play model or a play run (kinema.interactive)."""
    p = Path(path)
    conf = read_config(p)
    model_kind, run_kind, what = ("play-model", "play", "a play") if play else ("pipeline", "dit", "a DiT")
    if conf.get("kind") == model_kind:
        weights = load_file(str(p / "dit.safetensors"))
    elif conf.get("kind") == run_kind:
        weights = run_weights(p)
    else:
        raise ValueError(f"{p} is neither an exported {'play ' if play else ''}model nor {what} run directory")
    return {k: v.float() for k, v in weights.items()}


def _check_frames(data_cfg: DataConfig, time_down: int, space_down: int) -> None:
    for f, h, w in data_cfg.buckets():
        if (f - 1) % time_down:
            raise ValueError(f"--frames {f} does not fit this VAE: frame counts must be 1 + {time_down}k "
                             f"(e.g. {', '.join(str(1 + time_down * k) for k in range(4))})")
        if h % space_down or w % space_down:
            raise ValueError(f"--size {w}x{h} does not fit this VAE: width and height must be multiples of "
                             f"{space_down}")

