"""Training recipes for interactive play: the time_down=1 VAE, the action-conditioned PlayDiT, export and loading.

    kinema play vae --steps 3000 --out runs/vae-f4t1                    # build_play_vae_run
    kinema play train --vae runs/vae-f4t1 --steps 6000 --out runs/play  # build_play_run (--init-from: warm start)
    kinema play export runs/play -o kinema-explore                     # export_play

Both runs use the project's Trainer (kinema.train.trainer) and step-indexed data, so `--resume` continues exactly.

Run directory config (kind "play"): {"kind", "preset", "model": DiTConfig, "play": PlayConfig, "vae": VAEConfig with
latent statistics, "vae_source", "text_encoder", "data": PlayDataConfig, "init_from", "train": TrainConfig, and
"teacher" for a distillation run}.
Model directory (kind "play-model"): config.json + dit.safetensors + vae.safetensors in bf16.

Objective (Diffusion Forcing, Chen et al. 2024, arXiv 2407.01392, with GameNGen's context noise augmentation,
Valevski et al. 2024, arXiv 2408.14837): each frame of a clip is, independently, either a context frame (mask 1, a
small t ~ U(0, ctx_noise_max), no loss: what a committed frame looks like in play) or a noisy frame (mask 0, its own
t from a shifted logit-normal or, half the time, one of the few times 1-4 step play evaluates; flow-matching loss
v = eps - x0). One causal, sliding-window forward covers the clip, so
each noisy frame learns to denoise given whatever its window holds: mostly slightly-noisy context, sometimes noisier
frames (the robustness that lets errors not compound). t = 1 is noise, t = 0 data (kinema.flow.path).
With PlayConfig.shortcut > 0, that share of clips trains a shortcut model instead (Frans et al. 2024, arXiv
2410.12557, as kinema.train.recipes does for the physics DiT): each noisy frame also gets a jump size d (half the time
one of the play schedules' own (t, d) steps, else log-uniform with t >= d) and learns the mean velocity over it from
two half jumps of the model itself (kinema.flow.shortcut); the step input is per frame and 0 on context frames, as in
play, where the cache holds committed frames that do not move. With PlayConfig.distill > 0 (and a teacher), that
share of clips puts every noisy frame on a play jump and learns a frozen teacher's many-step, action-guided path over
it instead (teacher_target). With PlayConfig.carry_rows > 0 the last rows of every batch are long walks that go on
from step to step (CarriedWalks), each rolled out from the model's own last frame of the step before.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from kinema.flow.path import interpolate, target_velocity, x0_from_velocity
from kinema.flow.shortcut import sample_step_sizes, shortcut_target
from kinema.flow.timesteps import apply_shift, logit_normal
from kinema.interactive.data import CarriedWalks, ExploreActionData, PlayDataConfig, walk
from kinema.interactive.model import (KEYS, NULL_ACTION, NUM_ACTIONS, PRESETS, VAE_PRESETS, PlayConfig,
                                     bridge_start, build_play_dit, ego_move, fit_ego_motion, format_ego_motion,
                                     has_null_action)
from kinema.train.trainer import per_sample_generators

EGO_FIT_BATCHES = 8  # training batches fit_walk_ego_motion fits on (8 x 8 clips x 15 steps: ~140 pairs per key)

# ----------------------------------------------------------------------------------------------------------------------
# Objective
# ----------------------------------------------------------------------------------------------------------------------


class PlayObjective:
    """Diffusion-forcing flow-matching loss of a PlayDiT on VAE latents of action-labelled explore walks."""

    def __init__(self, vae, text_encoder, cfg: PlayConfig, teacher=None, data_cfg: PlayDataConfig | None = None):
        if cfg.distill > 0 and teacher is None:
            raise ValueError("PlayConfig.distill > 0 needs a teacher (kinema play train --teacher MODEL)")
        if cfg.carry_rows > 0 and data_cfg is None:
            raise ValueError("PlayConfig.carry_rows > 0 needs the data config its walks are drawn with")
        self.vae, self.text, self.cfg, self.teacher = vae, text_encoder, cfg, teacher
        self.walks = CarriedWalks(data_cfg, cfg.carry_rows, cfg.carry_clips) if cfg.carry_rows > 0 else None
        self.last: list[torch.Tensor | None] = [None] * cfg.carry_rows  # each carried row's own last latent frame

    def carry(self, batch: dict[str, Any]) -> tuple[dict[str, Any], dict[int, bool]]:
        """The batch with its last carry_rows rows replaced by the carried walks' next clips, and {row: fresh}."""
        B, rows = len(batch["caption"]), self.cfg.carry_rows
        if rows > B:
            raise ValueError(f"carry_rows ({rows}) must be at most the batch size ({B})")
        batch = {**batch, "video": batch["video"].clone(), "actions": batch["actions"].clone(),
                 "caption": list(batch["caption"])}
        fresh = {}
        for r in range(rows):
            b = B - rows + r
            clip, fresh[b] = self.walks.next(r, int(batch["seed"][b]))
            batch["video"][b], batch["actions"][b] = clip["video"], clip["actions"]
            batch["caption"][b] = clip["caption"]
        return batch, fresh

    def __call__(self, model, batch: dict[str, Any], generator: torch.Generator):
        from kinema.models.dit import DiTCond

        cfg = self.cfg
        batch, carried = self.carry(batch) if self.walks is not None else (batch, {})  # {row: fresh walk}
        with torch.no_grad():  # under the trainer's bf16 autocast: half the time of fp32, latents within 0.3%
            z = self.vae.normalize(self.vae.encode(batch["video"])[0].float())  # (B, C, T, h, w)
        B, C, T, h, w = z.shape
        with torch.autocast(z.device.type, enabled=False):
            emb = self.text.encode(list(batch["caption"]))
        eps, t, ctx, drop, no_act, sc, step, own, dist = [], [], [], [], [], [], [], [], []
        grid = torch.tensor(cfg.grid_times(), device=z.device)  # (G,)
        jumps = torch.tensor(cfg.grid_jumps(), device=z.device)  # (J, 2): (t, d) of each play step
        gens = per_sample_generators(batch["seed"], z.device)
        for b, g in enumerate(gens):
            eps.append(torch.randn(z.shape[1:], generator=g, device=z.device))  # (C, T, h, w)
            is_ctx = torch.rand(T, generator=g, device=z.device) < cfg.context_prob  # (T,)
            is_ctx[int(torch.randint(T, (1,), generator=g, device=z.device))] = False  # at least one frame learns
            t_free = apply_shift(logit_normal((T,), g, cfg.logit_mean, cfg.logit_std), cfg.train_shift)  # (T,)
            on_grid = torch.rand(T, generator=g, device=z.device) < cfg.grid_prob  # (T,)
            t_grid = grid[torch.randint(len(grid), (T,), generator=g, device=z.device)]  # (T,)
            t_noisy = torch.where(on_grid, t_grid, t_free)  # (T,)
            t_ctx = torch.rand(T, generator=g, device=z.device) * cfg.ctx_noise_max  # (T,)
            drop.append(bool(torch.rand((), generator=g, device=z.device) < cfg.text_dropout))
            if cfg.action_dropout > 0:  # drawn last, so runs without it keep their exact random streams
                no_act.append((torch.rand(T, generator=g, device=z.device) < cfg.action_dropout) & ~is_ctx)
            d = torch.zeros(T, device=z.device)  # (T,) the jump each frame learns; 0 = the velocity
            if cfg.shortcut > 0 or cfg.distill > 0:  # drawn after everything else: earlier runs keep their streams
                sc.append(bool(torch.rand((), generator=g, device=z.device) < cfg.shortcut))
                pick = jumps[torch.randint(len(jumps), (T,), generator=g, device=z.device)]  # (T, 2)
                d_free = sample_step_sizes(T, g).to(z.device)  # (T,) log-uniform
                on_jump = torch.rand(T, generator=g, device=z.device) < cfg.grid_prob  # (T,)
                if sc[-1]:  # a jump of d from t must end at t - d >= 0
                    d = torch.where(on_jump, pick[:, 1], d_free)
                    t_noisy = torch.where(on_jump, pick[:, 0], d_free + (1 - d_free) * t_free)
                step.append(torch.where(is_ctx, 0.0, d))
            if cfg.self_rollout > 0:  # drawn last, so runs without it keep their random streams
                own.append(bool(torch.rand((), generator=g, device=z.device) < cfg.self_rollout))
            if carried:  # carried rows always roll out, from their own frame 0 held as context
                if len(own) == b:  # self_rollout 0: only the carried rows roll out
                    own.append(False)
                own[b] = own[b] or b in carried
                if b in carried:
                    is_ctx[0] = True
                    if bool(is_ctx[1:].all()):
                        is_ctx[int(torch.randint(1, T, (1,), generator=g, device=z.device))] = False
            if cfg.distill > 0:  # drawn last; a distilled clip is not also a shortcut clip
                dist.append(bool(torch.rand((), generator=g, device=z.device) < cfg.distill))
                if dist[-1]:  # every noisy frame takes one of play's own jumps
                    sc[-1], d, t_noisy = False, pick[:, 1], pick[:, 0]
                    step[-1] = torch.where(is_ctx, 0.0, d)
            t.append(torch.where(is_ctx, t_ctx, t_noisy))
            ctx.append(is_ctx)
        eps, t = torch.stack(eps), torch.stack(t)  # (B, C, T, h, w), (B, T)
        mask = torch.stack(ctx).float()  # (B, T)
        actions = batch["actions"].long()  # (B, T)
        z_in = z  # what each frame is noised from: the data, or the model's own rollout on self-rollout clips
        if any(own):
            idx = torch.tensor(own, device=z.device).nonzero()[:, 0]  # (n,)
            z0 = z[idx, :, :1].clone()  # (n, C, 1, h, w): the true first frame, or a carried walk's own last one
            for k, b in enumerate(idx.tolist()):
                if b in carried and not carried[b]:
                    z0[k] = self.last[b - B + cfg.carry_rows].to(z0)
            with torch.no_grad():
                mine = self_rollout(model, z0, actions[idx], emb.tokens[idx], emb.mask[idx], cfg,
                                    [gens[i] for i in idx.tolist()])  # (n, C, T, h, w)
            for k, b in enumerate(idx.tolist()):
                if b in carried:
                    self.last[b - B + cfg.carry_rows] = mine[k, :, -1:].float().clone()
            z_in = z.clone()
            z_in[idx] = torch.where(mask[idx, None, :, None, None] > 0, mine.to(z.dtype), z[idx])  # context frames
            if cfg.self_rollout_target == "step":  # noisy frames: the own past plus the data's step
                z_in[idx] = stepped_goal(cfg, z[idx], z_in[idx], mask[idx], actions[idx])
        src = eps  # where each frame's flow starts (t = 1)
        if cfg.bridge > 0:  # noisy frames after frame 0 start from the previous latent plus noise (PlayConfig.bridge)
            prev = torch.cat([torch.zeros_like(z_in[:, :, :1]), z_in[:, :, :-1]], dim=2)  # (B, C, T, h, w)
            bridged = (mask == 0) & (torch.arange(T, device=z.device) > 0)  # (B, T)
            src = torch.where(bridged[:, None, :, None, None], bridge_start(cfg, prev, actions, eps), eps)
        x_t = interpolate(z_in, src, t)  # (B, C, T, h, w)
        if no_act:
            actions = torch.where(torch.stack(no_act), NULL_ACTION, actions)  # (B, T)
        cond = DiTCond(text=emb.tokens, text_mask=emb.mask, mask=mask, actions=actions,
                       drop_text=torch.tensor(drop, device=z.device), step=torch.stack(step) if step else None)
        target = target_velocity(z_in, src)  # (B, C, T, h, w): z itself on noisy frames but with stepped goals
        if any(sc):
            idx = torch.tensor(sc, device=z.device).nonzero()[:, 0]  # (n,)
            target = target.clone()
            target[idx] = shortcut_target(model, x_t[idx], t[idx], cond.take(idx), cond.step[idx], mask[idx])
        if any(dist):
            idx = torch.tensor(dist, device=z.device).nonzero()[:, 0]  # (n,)
            target = target.clone()
            target[idx] = teacher_target(self.teacher, x_t[idx], t[idx], cond.take(idx), cond.step[idx], mask[idx],
                                         cfg.distill_steps, cfg.distill_guidance)
        v = model(x_t, t, cond).float()  # (B, C, T, h, w)
        wgt = (1 - mask)[:, None, :, None, None].expand_as(v)  # (B, C, T, h, w): loss on noisy frames only
        err = (v - target).square() * wgt
        row_loss = err.flatten(1).sum(1) / wgt.flatten(1).sum(1).clamp_min(1.0)  # (B,)
        loss = row_loss.mean()
        noisy = mask == 0
        metrics = {"context_frac": float(mask.mean()), "t_mean": float(t[noisy].mean())}
        if cfg.gdl > 0:  # the clean frame the velocity implies must have the target's edges (PlayConfig.gdl)
            later = noisy & (torch.arange(T, device=z.device) > 0)  # (B, T): the frames play makes from the last
            edges = gradient_difference(x0_from_velocity(x_t.float(), v, t), z_in.float(), later)
            loss = loss + cfg.gdl * edges
            metrics["gdl"] = float(edges.detach())
        if carried:  # the carried rows' own loss, and how far into their walks they are (frames)
            metrics["carry_loss"] = float(row_loss[sorted(carried)].detach().mean())
            metrics["carry_depth"] = sum(self.walks.depth) * (T - 1) / len(self.walks.depth)
        if no_act:
            metrics["null_action_frac"] = float(torch.stack(no_act)[noisy].float().mean())
        if sc:
            metrics["sc_share"] = sum(sc) / B
        if own:
            metrics["self_share"] = sum(own) / B
        if dist:
            metrics["distill_share"] = sum(dist) / B
        patch = model_patch(model)
        return loss, metrics, B * T * (h // patch[1]) * (w // patch[2])


def gradient_difference(x: torch.Tensor, y: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Gradient difference loss (Mathieu et al. 2016, arXiv 1511.05440) of latent frames x against y, (B, C, T, h, w):
    the mean of | |y[i+1] - y[i]| - |x[i+1] - x[i]| | over neighbouring pixels across and down, on the frames where
    frames (B, T) is true; 0 when there are none."""
    keep = frames[:, None, :, None, None].to(x.dtype)  # (B, 1, T, 1, 1)
    total, count = x.new_zeros(()), x.new_zeros(())
    for dim in (3, 4):
        gx, gy = x.diff(dim=dim).abs(), y.diff(dim=dim).abs()
        w = keep.expand_as(gx)
        total = total + ((gy - gx).abs() * w).sum()
        count = count + w.sum()
    return total / count.clamp_min(1.0)


@torch.no_grad()
def teacher_target(teacher, x_t: torch.Tensor, t: torch.Tensor, cond, d: torch.Tensor, mask: torch.Tensor,
                   steps: int, guidance: float) -> torch.Tensor:
    """The mean velocity (B, C, T, h, w) of `steps` Euler steps of a frozen teacher DiT over each frame's jump: from
    x_t (B, C, T, h, w) at t (B, T), every noisy frame (mask 0) moves d (B, T) (0 on context frames, which stay where
    they are, as committed frames do in play); the velocity is action-guided with `guidance`, its two branches in
    one forward (kinema.interactive.session.velocity). Target = (x_t - x_end) / d on the noisy frames, 0 elsewhere.
    A teacher with a step-size input is asked for each sub-step's jump; the condition's text dropout and null
    actions are the teacher's too."""
    from kinema.flow.path import expand_t
    from kinema.interactive.session import velocity

    free = 1 - mask.float()  # (B, T)
    h = d * free / steps  # (B, T): each sub-step's jump
    sub = replace(cond, step=h if teacher.cfg.step_embed else None)
    x, tt = x_t.float(), t.float()
    for _ in range(steps):
        v = velocity(lambda a, b, c, _cache: teacher(a, b, c), x.to(x_t.dtype), tt, sub, guidance)
        x = x - expand_t(h, x) * v
        tt = (tt - h).clamp_min(0.0)
    return torch.where(expand_t(free, x) > 0, (x_t.float() - x) / expand_t(d.clamp_min(1e-6), x), 0.0)


def unwrapped(model):
    """The DiT inside a (possibly DDP-wrapped or compiled) model."""
    inner = getattr(model, "module", model)
    return getattr(inner, "_orig_mod", inner)


def model_patch(model) -> tuple[int, int, int]:
    """The DiT patch of a (possibly DDP-wrapped or compiled) model."""
    return unwrapped(model).cfg.patch


def stepped_goal(cfg: PlayConfig, z: torch.Tensor, z_in: torch.Tensor, mask: torch.Tensor,
                 actions: torch.Tensor) -> torch.Tensor:
    """PlayConfig.self_rollout_target "step": latents (B, C, T, h, w) that keep z_in's frames where mask (B, T) is 1
    (the model's own context frames) and give every other frame j > 0 the previous goal plus the data's step,
    goal_j = move_j(goal_{j-1}) + z_j - move_j(z_{j-1}), move_j = ego_move with frame j's key (actions (B, T)). As
    ego_move is linear, that is z_j plus the drift goal_{j-1} - z_{j-1} moved by the key: 0 after true frames, so a
    clip of true frames keeps its targets exactly. With cfg.drift_decay d, each frame takes d of the moved drift's
    spatial mean (per channel) off, and with cfg.drift_shrink s then s of all that is left. Frame 0 keeps z_in's."""
    goal = [z_in[:, :, :1]]
    for j in range(1, z.shape[2]):
        drift = ego_move(cfg, goal[-1] - z[:, :, j - 1:j], actions[:, j:j + 1])  # (B, C, 1, h, w)
        if cfg.drift_decay > 0:
            drift = drift - cfg.drift_decay * drift.mean(dim=(-2, -1), keepdim=True)
        if cfg.drift_shrink > 0:
            drift = (1.0 - cfg.drift_shrink) * drift
        goal.append(torch.where(mask[:, None, j:j + 1, None, None] > 0, z_in[:, :, j:j + 1], z[:, :, j:j + 1] + drift))
    return torch.cat(goal, dim=2)


def self_rollout(model, z0: torch.Tensor, actions: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                 cfg: PlayConfig, generators: list[torch.Generator]) -> torch.Tensor:
    """The latents (B, C, T, h, w) that B sessions of `model` make from frames z0 (B, C, 1, h, w) with the actions
    (B, T) (actions[:, 0]: frame 0's own), played as Session plays them: cfg's steps, shift, ctx_noise and action
    guidance, fused commits, a sliding KV cache. Row b draws its noise from generators[b] in a Session's order (the
    commit's noise, then the new frame's), so a one-row rollout is a Session's (tests/test_play.py). Frame 0 is z0.
    Runs under the caller's autocast and grad mode."""
    from kinema.flow.timesteps import sampling_schedule
    from kinema.interactive.session import advance

    inner = unwrapped(model)
    times = [float(x) for x in sampling_schedule(cfg.steps, cfg.shift)]
    shape = z0.shape[1:]  # (C, 1, h, w)
    cache, out = inner.new_cache(), [z0]
    for j in range(1, actions.shape[1]):
        ctx = out[-1]
        if cfg.ctx_noise > 0:
            noise = torch.stack([torch.randn(shape, generator=g, device=z0.device) for g in generators])
            ctx = (1.0 - cfg.ctx_noise) * ctx + cfg.ctx_noise * noise
        eps = torch.stack([torch.randn(shape, generator=g, device=z0.device) for g in generators])  # (B, C, 1, h, w)
        x = bridge_start(cfg, out[-1].to(eps.dtype), actions[:, j:j + 1], eps)
        out.append(advance(inner, cache, ctx, x, actions[:, j - 1], actions[:, j], times, cfg.ctx_noise, text,
                           text_mask, cfg.action_guidance, step_embed=inner.cfg.step_embed).float())
    return torch.cat(out, dim=2)


# ----------------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------------


def load_play(path: str | Path, *, text_encoder=None):
    """A PlayModel (kinema.interactive.session) from a play run directory (its latest EMA weights) or an exported
    model directory. Nothing is unpickled. text_encoder: a name for load_text_encoder, an encoder already loaded, or
    None for the one the model was trained with."""
    from kinema.interactive.model import PlayDiT
    from kinema.interactive.session import PlayModel
    from kinema.models.dit import DiTConfig
    from kinema.models.text import load_text_encoder
    from kinema.train.recipes import load_trained, read_config

    p = Path(path)
    conf = read_config(p)
    kind = conf.get("kind")
    if kind not in ("play-model", "play"):
        raise ValueError(f"{p} is not a play run or model directory (config kind {kind!r}); train one with "
                         "`kinema play train`")
    vae, weights, dit_cfg = load_trained(p, conf, run=kind == "play")
    cfg = PlayConfig(**conf["play"])
    dit = PlayDiT(DiTConfig(**{**dit_cfg, "grad_checkpointing": False}), cfg.window)
    dit.load_state_dict(weights)
    data = PlayDataConfig(**conf["data"])
    if text_encoder is None or isinstance(text_encoder, str):
        text = load_text_encoder(text_encoder or conf.get("text_encoder", "minilm+zh"))
    else:
        text = text_encoder  # lent by the caller
    info = {"step": conf.get("dit_step"), "data": conf["data"]}
    return PlayModel(dit=dit.eval(), vae=vae, text=text, cfg=cfg, size=data.wh,
                     name=conf.get("name", p.name), source=str(p), info=info)


# ----------------------------------------------------------------------------------------------------------------------
# Sample hook: a scripted tour of an evaluation world, model | ground truth
# ----------------------------------------------------------------------------------------------------------------------


def play_sample_fn(vae, text_encoder, cfg: PlayConfig, data_cfg: PlayDataConfig, frames: int = 40):
    def fn(model, step: int, out_dir: Path) -> None:
        import numpy as np

        from kinema.interactive.data import action_sequence
        from kinema.interactive.session import PlayModel, Session, rollout
        from kinema.train.data import EVAL_SEED_START
        from kinema.video import write_video
        from kinema.worlds.explore import make_world

        scenario, seed = data_cfg.scenarios[0], EVAL_SEED_START
        world = make_world(scenario, seed)
        keys = action_sequence("scripted", world, frames - 1, data_cfg.fps, np.random.default_rng(0))
        w, h = data_cfg.wh
        gt = walk(world, keys, w, h, data_cfg.fps)
        pm = PlayModel(dit=model, vae=vae, text=text_encoder, cfg=cfg, size=(w, h))
        prompt = _scene_prompt(world, data_cfg.fps)
        video = rollout(Session(pm, prompt, seed=0), keys, gt[0])
        out_dir.mkdir(parents=True, exist_ok=True)
        write_video(out_dir / f"play-{step:06d}.mp4", np.concatenate([video, gt], axis=2), data_cfg.fps,
                    metadata={"step": step, "actions": " ".join(keys), "left": "model", "right": "ground truth"})
    return fn


def _scene_prompt(world, fps: float) -> str:
    from kinema.interactive.data import scene_caption

    return scene_caption(world, fps)["en"]["detailed"]


# ----------------------------------------------------------------------------------------------------------------------
# Building runs
# ----------------------------------------------------------------------------------------------------------------------


def build_play_vae_run(preset: str, data_cfg, train_cfg, *, resume: bool = False, kl_weight: float = 1e-4):
    """A VAE run with a time_down=1 preset of kinema.interactive.model.VAE_PRESETS (kinema.train.recipes'
    build_vae_run knows only kinema.models.vae.PRESETS). Loads with kinema.train.recipes.load_vae like any VAE run."""
    from kinema.models.vae import CausalVAE
    from kinema.train.data import make_data
    from kinema.train.recipes import VAEObjective, vae_sample_fn
    from kinema.train.trainer import Trainer

    if preset not in VAE_PRESETS:
        raise ValueError(f"unknown play VAE preset {preset!r}; choose one of: {', '.join(VAE_PRESETS)}")
    cfg = VAE_PRESETS[preset]
    for f, h, w in data_cfg.buckets():
        if h % cfg.space_down or w % cfg.space_down:
            raise ValueError(f"--size {w}x{h}: width and height must be multiples of {cfg.space_down}")
    model = CausalVAE(cfg, generator=torch.Generator().manual_seed(train_cfg.seed))
    data = make_data(data_cfg, train_cfg.batch_size, train_cfg.seed)
    run_config = {"kind": "vae", "preset": preset, "model": asdict(cfg), "data": data_cfg.to_dict(),
                  "objective": {"kl_weight": kl_weight}}
    return Trainer(model, VAEObjective(kl_weight), data, train_cfg, run_config=run_config,
                   sample_fn=vae_sample_fn(data), resume=resume)


@torch.no_grad()
def fit_walk_ego_motion(vae, data: ExploreActionData, batches: int = EGO_FIT_BATCHES, mode: str = "bilinear") -> tuple:
    """PlayConfig.ego_motion fitted (fit_ego_motion, moving by `mode`) to every pair of consecutive latent frames of
    the first `batches` training batches: the same walks the run trains on, the same numbers for the same seed."""
    return fit_ego_motion(*walk_latent_pairs(vae, data, batches), mode=mode)


def walk_latent_pairs(vae, data: ExploreActionData, batches: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prev, next, actions): every pair of consecutive normalised latent frames (N, C, h, w) of the first `batches`
    batches of data, and the key between them (N,)."""
    prev, nxt, acts = [], [], []
    for i in range(batches):
        b = data.batch(i, 0, 1)
        z = vae.normalize(vae.encode(b["video"])[0].float())  # (B, C, T, h, w)
        prev.append(z[:, :, :-1].transpose(1, 2).flatten(0, 1))  # (B (T-1), C, h, w)
        nxt.append(z[:, :, 1:].transpose(1, 2).flatten(0, 1))
        acts.append(b["actions"][:, 1:].flatten())  # the key between frame j - 1 and frame j
    return torch.cat(prev), torch.cat(nxt), torch.cat(acts)


def build_play_run(preset: str, vae_path: str | Path, data_cfg: PlayDataConfig, train_cfg, *,
                   play_cfg: PlayConfig | None = None, resume: bool = False, text_encoder: str = "minilm+zh",
                   init_from: str | Path | None = None, teacher: str | Path | None = None, ego_motion: bool = False,
                   refit_ego: bool = False):
    """A PlayDiT run on explore walks, on the latents of a time_down=1 VAE run or model directory. init_from (an
    exported play model or a play run) warm-starts from its DiT weights and keeps the latent statistics they learned
    (a new optimizer and schedule, unlike a resume). teacher (a play model or run on the same latents: the same
    latent statistics) is the frozen DiT that PlayConfig.distill learns from. ego_motion: fit PlayConfig.ego_motion
    to the training walks' latents before the first step (a resumed run keeps the one it started with; a warm start
    from weights trained with one keeps theirs, as the fit on a few batches moves with the seed, unless refit_ego)."""
    from kinema.models.text import load_text_encoder
    from kinema.train.recipes import (dit_weights, load_vae, load_warm_start, read_config, recalled_path,
                                      recorded_path, restore_or_fit_latent_stats)
    from kinema.train.trainer import Trainer

    if preset not in PRESETS:
        raise ValueError(f"unknown play preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    play_cfg = play_cfg or PlayConfig(fps=data_cfg.fps)
    if play_cfg.fps != data_cfg.fps:
        raise ValueError(f"PlayConfig.fps ({play_cfg.fps}) must equal the data's fps ({data_cfg.fps})")
    run_dir = Path(train_cfg.out_dir)
    saved = read_config(run_dir) if resume and (run_dir / "config.json").exists() else {}  # what a resume keeps
    saved_ego = saved.get("play", {}).get("ego_motion")
    if ego_motion and saved_ego is None:  # refused before anything is loaded
        if resume:
            raise ValueError(f"{run_dir} started without ego motion; resume it without --ego-motion")
        if play_cfg.bridge == 0:
            raise ValueError("ego motion moves the frame a bridge starts from: it needs --bridge SIGMA > 0")
    if play_cfg.ego_gain != 1.0 and not ego_motion and saved_ego is None:
        raise ValueError("--ego-gain raises the zooms of the ego motion: it needs --ego-motion")
    if play_cfg.ego_interp != "bilinear" and not ego_motion and saved_ego is None:
        raise ValueError("--ego-interp resamples the frames the ego motion moves: it needs --ego-motion")
    vae = load_vae(vae_path)
    if vae.cfg.time_down != 1:
        raise ValueError(f"{vae_path}: play needs a VAE with time_down=1 (got {vae.cfg.time_down}); train one with "
                         "`kinema play vae`")
    w, h = data_cfg.wh
    if w % (2 * vae.cfg.space_down) or h % (2 * vae.cfg.space_down):
        raise ValueError(f"size {data_cfg.size}: sides must be multiples of {2 * vae.cfg.space_down}")
    data = ExploreActionData(data_cfg, train_cfg.batch_size, train_cfg.seed)
    init_weights = dit_weights(init_from, play=True) if init_from is not None and not resume else None
    restore_or_fit_latent_stats(vae, data, train_cfg, resume=resume, init_from=init_from)
    if saved_ego is not None:
        play_cfg = replace(play_cfg, ego_motion=saved_ego)
    elif ego_motion:
        kept = (read_config(Path(init_from)).get("play", {}).get("ego_motion")
                if init_from is not None and not refit_ego else None)
        play_cfg = replace(play_cfg, ego_motion=kept or fit_walk_ego_motion(vae, data, mode=play_cfg.ego_interp))
        print(f"ego motion (zoom, dx latent px) {f'kept from {init_from}' if kept else 'fitted per key'}: "
              f"{format_ego_motion(play_cfg.ego_motion)}")
    if play_cfg.ego_motion is not None and play_cfg.ego_gain != 1.0:
        (zw, _), (zs, _) = play_cfg.ego_motion[:2]
        print(f"ego gain {play_cfg.ego_gain:g}: frames start from W zoomed {zw ** play_cfg.ego_gain:.3f}, "
              f"S {zs ** play_cfg.ego_gain:.3f}")
    cfg = replace(PRESETS[preset], latent_channels=vae.cfg.latent_channels,
                  grad_checkpointing=train_cfg.grad_checkpointing)
    saved_model = saved.get("model", {})
    if saved_model:  # a run started before NULL_ACTION, abs_pos or action_warp existed resumes with the model it has
        cfg = replace(cfg, num_actions=saved_model["num_actions"], abs_pos=saved_model.get("abs_pos", False),
                      action_warp=saved_model.get("action_warp", False))
    # a shortcut objective needs the step-size input; a model that has one keeps it (warm start or resume)
    step_embed = (play_cfg.shortcut > 0 or play_cfg.distill > 0 or saved_model.get("step_embed", False)
                  or any(k.startswith("step_embed.") for k in (init_weights or {})))
    cfg = replace(cfg, step_embed=step_embed)
    if play_cfg.action_dropout > 0 and not has_null_action(cfg.num_actions):
        raise ValueError(f"action dropout needs a NULL_ACTION embedding; this run has {cfg.num_actions} actions")
    with torch.random.fork_rng(devices=[]):  # initialisation from the run seed; the caller's RNG state is restored
        torch.manual_seed(train_cfg.seed)
        model = build_play_dit(cfg, play_cfg.window)
    if init_weights is not None:
        if init_weights["action_embed.weight"].shape[0] == NUM_ACTIONS and model.has_null_action:
            # a warm start from a model without NULL_ACTION: the null action starts as the mean of the others ("any
            # action"), in the action embedding and in any action warp's table
            init_weights = {k: torch.cat([v, v.float().mean(0, keepdim=True).to(v)])
                            if k == "action_embed.weight" or k.endswith(".warp.table.weight") else v
                            for k, v in init_weights.items()}
        load_warm_start(model, init_weights)  # a new step-size embedding starts at zero output: the same model
    text = load_text_encoder(text_encoder)
    if teacher is None and saved.get("teacher") is not None:  # a resumed run keeps the teacher it started with
        teacher = recalled_path(saved["teacher"], run_dir)
    frozen = None if play_cfg.distill == 0 else load_teacher(teacher, vae, play_cfg.distill_guidance,
                                                             play_cfg.bridge, text=text)
    run_config = {"kind": "play", "preset": preset, "model": asdict(model.cfg), "play": asdict(play_cfg),
                  "vae": asdict(vae.cfg), "vae_source": recorded_path(vae_path, train_cfg.out_dir),
                  "text_encoder": text_encoder, "data": data_cfg.to_dict(),
                  "init_from": None if init_from is None else recorded_path(init_from, train_cfg.out_dir),
                  **({"teacher": recorded_path(teacher, train_cfg.out_dir)} if frozen is not None else {})}
    return Trainer(model, PlayObjective(vae, text, play_cfg, frozen, data_cfg), data, train_cfg,
                   run_config=run_config, sample_fn=play_sample_fn(vae, text, play_cfg, data_cfg), resume=resume)


def load_teacher(path: str | Path | None, vae, guidance: float, bridge: float = 0.0, text=None):
    """The frozen PlayDiT of a play model or run, checked to work on `vae`'s latents (same channels and latent
    statistics: the teacher's targets live in its own latent space), to start its frames where the student does (the
    same PlayConfig.bridge) and to have the null action that guidance > 1 needs. The teacher is asked with the
    student's text embeddings (teacher_target gets the student's condition), so `text`, the run's encoder, is lent to
    the loader rather than a second one loaded."""
    if path is None:
        raise ValueError("PlayConfig.distill > 0 needs a teacher (kinema play train --teacher MODEL)")
    t = load_play(path, text_encoder=text)

    def stats(c) -> torch.Tensor:
        return torch.cat([torch.as_tensor(c.latent_shift, dtype=torch.float64).flatten(),
                          torch.as_tensor(c.latent_scale, dtype=torch.float64).flatten()])

    same = (t.vae.cfg.latent_channels == vae.cfg.latent_channels and stats(t.vae.cfg).shape == stats(vae.cfg).shape
            and torch.allclose(stats(t.vae.cfg), stats(vae.cfg), rtol=1e-6, atol=0.0))
    if not same:
        raise ValueError(f"teacher {path} works on other latents (channels or latent statistics differ from this "
                         "run's VAE); warm-start the run from it (--init-from) or use its VAE (--vae)")
    if t.cfg.ego_motion is not None:
        raise ValueError(f"teacher {path} moves the frames its bridge starts from (ego motion): distilling from such a "
                         "teacher is not supported")
    if t.cfg.bridge != bridge:
        raise ValueError(f"teacher {path} starts its frames with bridge {t.cfg.bridge}, this run with {bridge}: a "
                         "teacher's path only fits a student whose frames start from the same place")
    if guidance != 1.0 and not t.dit.has_null_action:
        raise ValueError(f"teacher {path} was trained without a null action: distill guidance {guidance} needs one")
    return t.dit.eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------------------------------


def export_play(run_dir: str | Path, out_dir: str | Path, *, name: str | None = None,
                dtype: torch.dtype = torch.bfloat16, play: dict[str, Any] | None = None) -> tuple[Path, int]:
    """Bundle a play run and its VAE into a model directory (config.json, dit.safetensors, vae.safetensors, and
    training/: the runs' configs, metrics, loss curves, commands and logs). Returns (directory, total bytes).
    play: PlayConfig fields to ship other than the run's play defaults (e.g. the action guidance an evaluation chose;
    config.json keeps the run's under "play_trained"). run_dir may also be a play model directory: it is written
    again with those play defaults and its weights as they are (_rewrite_model)."""
    from kinema import __version__
    from kinema.train.checkpoint import write_json, write_safetensors
    from kinema.train.export import cast_state, copy_training_record, exportable_run, vae_train
    from kinema.train.recipes import read_config, recalled_path, run_weights, vae_source

    run = Path(run_dir)
    model_conf = read_config(run)
    if model_conf.get("kind") == "play-model":
        return _rewrite_model(run, model_conf, out_dir, name=name, play=play)
    conf, step = exportable_run(run, "play", "a play")
    play_cfg = _shipped_play(run, conf["play"], conf["model"], play)
    vae_run = recalled_path(conf["vae_source"], run)
    _, vae_weights, vae_conf = vae_source(vae_run)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "dit.safetensors", cast_state(run_weights(run), dtype), {"step": str(step)})
    write_safetensors(out / "vae.safetensors", cast_state(vae_weights, dtype), {})
    model = {"kind": "play-model", "name": name or out.name, "kinema_version": __version__, "dit": conf["model"],
             "play": asdict(play_cfg), **({"play_trained": conf["play"]} if play else {}), "vae": conf["vae"],
             "text_encoder": conf["text_encoder"], "data": conf["data"], "train": conf["train"], "dit_step": step,
             "vae_train": vae_train(vae_conf),
             "dtype": str(dtype).removeprefix("torch.")}
    write_json(out / "config.json", model)
    copy_training_record(run, vae_run, out / "training")  # dit_*, vae_*: configs, metrics, logs
    return out, sum(f.stat().st_size for f in out.iterdir() if f.is_file())


def _shipped_play(src: Path, play: dict[str, Any], dit: dict[str, Any], changes: dict[str, Any] | None) -> PlayConfig:
    """The PlayConfig a model ships: a run's or model's play settings with `changes`, checked against its DiT."""
    cfg = PlayConfig(**{**play, **(changes or {})})  # validated like any PlayConfig
    if cfg.action_guidance != 1.0 and not has_null_action(dit["num_actions"]):
        raise ValueError(f"{src} was trained without a null action: it cannot ship action guidance "
                         f"{cfg.action_guidance}")
    if cfg.ego_gain != 1.0 and cfg.ego_motion is None:
        raise ValueError(f"{src} was trained without ego motion: it has no zoom to ship an ego gain for")
    return cfg


def _rewrite_model(src: Path, conf: dict[str, Any], out_dir: str | Path, *, name: str | None,
                  play: dict[str, Any] | None) -> tuple[Path, int]:
    """A play model directory written again with other play defaults (`play`): weights, model card and training
    record copied byte for byte; config.json (conf, as read) keeps the settings it was trained with under
    "play_trained"."""
    from kinema import __version__
    from kinema.train.checkpoint import write_json

    play_cfg = _shipped_play(src, conf["play"], conf["dit"], play)
    out = Path(out_dir)
    if out.resolve() != src.resolve():
        shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("config.json"))
    model = {**conf, "name": name or (conf["name"] if out.resolve() == src.resolve() else out.name),
             "kinema_version": __version__, "play": asdict(play_cfg),
             "play_trained": conf.get("play_trained", conf["play"])}
    write_json(out / "config.json", model)
    return out, sum(f.stat().st_size for f in out.iterdir() if f.is_file())
