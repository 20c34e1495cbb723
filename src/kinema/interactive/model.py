"""The interactive world model: a frame-causal, action-conditioned DiT with a sliding attention window and KV cache.

References: Diffusion Forcing (Chen et al. 2024, arXiv 2407.01392: an independent noise level per frame, causal
attention, rollouts far past the training length); GameNGen (Valevski et al. 2024, arXiv 2408.14837: noise
augmentation of the context frames, few denoising steps, actions as embeddings); Self-Forcing (Huang et al. 2025,
arXiv 2506.08009) and StreamingLLM-style rolling KV caches for a bounded window.

kinema.models.dit.DiT does the work; this file adds only what interactive play needs on top of it:
- PlayDiT: causal_time with a *sliding* window. Frame i attends to frames i - window + 1 .. i (block-causal inside the
  window), in training (one full forward over a long clip) and in play (a KV cache that never holds more than
  window - 1 frames), so a cached rollout equals the uncached forward over the whole rollout exactly, at any length.
- WindowCache: a DiTCache whose per-layer buffers are preallocated (no torch.cat per call), drop their oldest frames
  past the window, and can commit only the first frames of a call (so "commit the last frame" and "first denoising
  step of the next frame" run as one forward of two frames).
RoPE time positions stay absolute (t_start = frames seen so far): keys keep the rotation they were cached with, and
only position differences (at most window - 1) reach q.k, as in training.
- Actions: the explore world's 7 keys plus START (frame 0 has no action), one per latent frame (the VAE here has
  time_down = 1, so one latent frame per video frame), plus NULL_ACTION ("no action given"): trained with
  PlayConfig.action_dropout, it lets play guide on the action (classifier-free guidance on the action instead of the
  text). Models made before NULL_ACTION existed have NUM_ACTIONS embeddings and play without action guidance.
The model knows nothing about noise: the session (session.py) adds noise, and the objective (recipe.py) trains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kinema.models.dit import DiT, DiTCache, DiTCond, DiTConfig
from kinema.models.layers import KVCache
from kinema.models.vae import VAEConfig

# ----------------------------------------------------------------------------------------------------------------------
# Actions, presets, configs
# ----------------------------------------------------------------------------------------------------------------------

KEYS = ("W", "S", "A", "D", "Q", "E", ".")  # kinema.worlds.explore.ACTIONS, one index each
START = len(KEYS)  # the action of frame 0 (the start view: nothing was done yet)
NUM_ACTIONS = len(KEYS) + 1
NULL_ACTION = NUM_ACTIONS  # "no action given": the unconditional branch of action guidance
ACTION_GUIDANCE_MAX = 20.0  # action guidance is checked against [0, this] (PlayConfig and Session)
BRIDGE_MAX = 4.0  # PlayConfig.bridge is checked against [0, this] (latents are normalised to about unit variance)
EGO_ZOOM, EGO_SHIFT = (0.8, 1.25), 6.0  # the range fit_ego_motion searches (zoom; |dx| in latent pixels)
EGO_GAIN_KEYS, EGO_GAIN_MAX = ("W", "S"), 4.0  # PlayConfig.ego_gain: the keys whose zoom it raises; its largest value
SELF_ROLLOUT_TARGETS = ("data", "step")  # PlayConfig.self_rollout_target
EGO_INTERPS = ("bilinear", "bicubic")  # PlayConfig.ego_interp (grid_sample's modes)


def action_ids(keys: list[str] | str, *, start: bool = True) -> Tensor:
    """["W", "A", ...] or "W A ..." -> long (T,) action indices; START first when `start` (frame 0)."""
    keys = [k for k in keys if not k.isspace()] if isinstance(keys, str) else list(keys)
    bad = [k for k in keys if k not in KEYS]
    if bad:
        raise ValueError(f"unknown action {bad[0]!r}; allowed: {' '.join(KEYS)} (W/S move, A/D turn, Q/E strafe, "
                         f". no-op)")
    return torch.tensor(([START] if start else []) + [KEYS.index(k) for k in keys], dtype=torch.long)


# DiT sizes (latent_channels is replaced by the VAE's). 64 tokens per 64x64 frame (16x16 latent, patch 2).
# `kinema play bench` (random weights, batch 1, one thread of an AMD EPYC, machine load ~2): wall ms per 64x64 frame,
# streaming VAE decode (~9 ms) included, at 1 / 2 / 4 steps: "S" (dim 160, 2.5M params) 24.8 / 33.4 / 51.3, so
# 2 steps fit the 40 ms budget. CPU time, best of 5 x 10 frames on a busier machine: "S" 25 / 35 / 55,
# "M" (dim 192, 3.6M params) 29 / 39 / 63 (1 step fits), a dim-128 model 22 / 30 / 46.
# abs_pos: every play preset knows where in the frame each token is (DiTConfig.abs_pos): stepping forward or back
# zooms the view about its centre, a motion that depends on the place in the picture, which RoPE alone cannot express.
# action_warp: each block also reads the previous frame's values zoomed about the centre or shifted by a token, mixed
# by learned gains per key, to a fraction of a token (DiTConfig.action_warp, kinema.models.dit.ActionWarp).
_PLAY = {"causal_time": True, "num_actions": NUM_ACTIONS + 1, "abs_pos": True, "action_warp": True}  # shared
PRESETS: dict[str, DiTConfig] = {
    "tiny": DiTConfig(latent_channels=4, dim=32, depth=2, heads=2, **_PLAY),
    "S": DiTConfig(latent_channels=8, dim=160, depth=4, heads=5, **_PLAY),
    "M": DiTConfig(latent_channels=8, dim=192, depth=4, heads=6, **_PLAY),
    # "S" twice as deep (4.8M params): warm-starts from an "S" model by growing it (kinema.train.recipes.grow_depth).
    # `kinema bench play`, one EPYC thread, ms per frame at 1 / 2 steps: 60 / 82 with action guidance 2 (S: 39 / 55),
    # 45 / 66 without: it fits 40 ms only at 1 step without the guidance branch (distilled, PlayConfig.distill).
    "S8": DiTConfig(latent_channels=8, dim=160, depth=8, heads=5, **_PLAY),
}

# VAEs with time_down = 1 (one latent frame per video frame, decoded one at a time with decode_next).
# "f4t1" is kinema.models.vae's "f4" with no temporal compression: 64x64 -> 16x16x8 per frame, decode ~8.5 ms per
# frame under bf16 autocast on one EPYC thread (27 ms in fp32).
from kinema.models.vae import PRESETS as VAE_BASE_PRESETS  # noqa: E402

VAE_PRESETS: dict[str, VAEConfig] = {
    "tiny-t1": VAEConfig(latent_channels=4, base_channels=4, channel_mult=(1, 2, 4), space_down=4, time_down=1,
                         num_res_blocks=1, decoder_res_blocks=1),
    "f4t1": VAE_BASE_PRESETS["f4t1"],  # also `kinema train vae --preset f4t1 --world explore`
}


@dataclass
class PlayConfig:
    """How the model is trained and played (not its architecture). Saved in every run and model directory.

    window:         latent frames each frame attends to, itself included (the context is window - 1 frames).
    fps:            frames per second of the world the model learned (motion per frame = speed / fps).
    steps:          default denoising steps per frame in play (1-4).
    shift:          time shift of the play schedule (> 1 spends the steps nearer noise).
    ctx_noise:      play: committed frames are re-noised to this t before they enter the cache (noise augmentation).
    ctx_noise_max:  training: context frames get t ~ U(0, ctx_noise_max).
    context_prob:   training: probability that a frame is a context frame (mask 1, small t, no loss); the others
                    are noisy frames with their own t (diffusion forcing), which carry the loss.
    logit_mean, logit_std, train_shift: the noisy frames' t ~ shift(sigmoid(N(mean, std))) ...
    grid_prob:      ... or, with this probability, one of the times the 1-, 2- and 4-step play schedules evaluate
                    (t = 1, 0.75, 0.5, 0.25 at shift 1): a few-step sampler only ever asks for those, and a
                    logit-normal almost never draws t near 1, where every play frame starts.
    text_dropout:   training: captions replaced by the null text (for guidance of the first frame).
    first_steps, first_guidance: the first frame, made from the prompt alone (no context), uses more steps and CFG.
    action_dropout: training: each noisy frame's action is replaced by NULL_ACTION with this probability (context
                    frames keep theirs), so that ...
    action_guidance: ... play can extrapolate from "no action" towards the action: v = v_null + g (v_action - v_null)
                    for the frame being made (g = 1: no guidance and one forward; g > 1: the two branches run as one
                    batch-2 forward). Needs a model trained with action_dropout > 0.
    shortcut:       training: the share of clips trained as a shortcut model (Frans et al. 2024): their noisy frames
                    learn the mean velocity over a jump of size d (a per-frame step input, 0 on context frames) from
                    two half jumps of the model itself, so that play's 1-4 large steps land where many small ones
                    would (sharper frames than plain flow matching, whose few-step Euler averages). Half of those
                    jumps are the play schedules' own (t, d) pairs (with grid_prob). Needs a DiT with step_embed,
                    which the run adds; 0 = plain flow matching.
    self_rollout:   training: the share of clips whose context frames are the model's own play rollout instead of
                    the data (Self Forcing's idea, Huang et al. 2025, arXiv 2506.08009, with the data as the target
                    rather than a distribution-matching critic): from the clip's true first frame, the model plays the
                    clip's actions as a Session would (steps, shift, ctx_noise, action_guidance, no gradient); those
                    frames, re-noised like any context frame, replace the true ones where the frame is context, while
                    the noisy frames keep the true frames and targets. So the model learns the next true frame from
                    the imperfect past it will hold in play, the exposure gap that blurs long rollouts. Costs one
                    rollout per such clip (steps x frames batched forwards).
    self_rollout_target: training, on self-rollout clips: what a noisy frame after the model's own frames learns.
                    "data" = the true frame, as written above. "step" = the model's own previous frame plus the
                    data's step to this frame: the own frames' drift from the data, moved by the key's ego motion
                    (when the model has it), is carried into the target (ego_move), so the key's motion is learned
                    from where the model's own past put the camera instead of a jump back to the true frame, a
                    correction no key asked for.
    carry_rows:     training: the last carry_rows rows of every batch are long walks carried from step to step
                    (kinema.interactive.data.CarriedWalks): each row's clip goes on from where its previous clip ended,
                    and its rollout goes on from the model's own last frame of that clip, for carry_clips clips
                    before a fresh world starts. They are self-rollout rows with frame 0 as context, so the model
                    learns from its own frame 16, 64, 400 of a walk, the states a long play session reaches and a
                    16-frame clip from a true first frame never shows. 0 = off.
    carry_clips:    clips per carried walk (each frames - 1 steps long).
    drift_decay:    training, self_rollout_target "step": the share of the own drift's spatial mean (a tint over the
                    whole frame, per latent channel) that each frame's target takes off, so a rollout whose colour
                    has drifted from the world's is led back to it, while the drift's layout is kept; 0 = keep it all.
    drift_shrink:   training, self_rollout_target "step": the share of the whole own drift (after drift_decay) that
                    each frame's target takes off, its layout too, so a washed-out or grainy rollout is led a little
                    of the way back to the world's frames at every step ("data" targets: all of the way); 0 = off.
    gdl:            training: the weight of a gradient difference loss (Mathieu, Couprie & LeCun 2016, arXiv
                    1511.05440, made against the blur of squared-error video prediction) beside the flow-matching
                    loss: on every noisy frame after frame 0 (the frames play makes from the one before), the
                    clean frame the velocity implies (x_t - t v) must have the target's local contrast,
                    | |z[i+1] - z[i]| - |x[i+1] - x[i]| | between neighbouring latent pixels across and down,
                    averaged. A blurred guess, the mean of the frames a key could lead to, pays for its flat edges;
                    squared error alone rewards it. 0 = off.
    distill:        training: the share of clips whose noisy frames learn a frozen teacher's jump instead of the
                    data (guidance and step distillation, as in Meng et al. 2023, arXiv 2210.03142, and progressive
                    distillation, Salimans & Ho 2022, arXiv 2202.00512, done in one stage): each noisy frame gets one
                    of the play schedules' (t, d) jumps, and its target is the mean velocity of distill_steps Euler
                    steps of the teacher over that jump, action-guided with distill_guidance (the teacher's two
                    branches, as play runs them). The teacher's sample path is fixed by its noise, so the student
                    learns a mapping, not an average; a student played at 2 steps and guidance 1 makes what the
                    teacher makes at 2 x distill_steps steps with guidance. Needs a teacher (a play model or run on
                    the same latents, kinema play train --teacher) and adds the step-size input; 0 = off.
    distill_steps:  Euler steps of the teacher per distilled jump.
    distill_guidance: the teacher's action guidance (> 1 needs a teacher trained with action dropout).
    bridge:         where each new frame's flow starts (t = 1): 0 = pure noise, as in every other flow model here;
                    sigma > 0 = the previous frame's latent plus sigma times noise (a stochastic-interpolant bridge
                    from the current state to the next, Chen et al. 2024, arXiv 2403.13724). Training interpolates
                    each noisy frame between its true latent and the previous frame's latent plus noise, and play
                    starts each frame from the last frame it made, so the few steps only cover the short way from
                    one frame to the next: what the model gets wrong shows as wrong motion rather than blur. Frame 0
                    (nothing before it) starts from noise either way. A model's bridge is fixed by its training.
    ego_motion:     with a bridge: per key of KEYS, the (zoom, dx) that best moves one latent frame onto the next
                    (ego_warp: a zoom about the centre, > 1 = nearer, and dx latent pixels to the right), fitted to
                    the training walks by least squares when the run starts (kinema play train --ego-motion,
                    fit_ego_motion). Each new frame's flow then starts from the previous frame moved by its key's
                    average camera motion, plus bridge times noise, so the few steps only add what a global motion
                    cannot (parallax, new content at the borders): stepping forward or back is a zoom the bridge
                    starts from rather than one the model has to draw. None = start from the previous frame as it is.
    ego_gain:       the zooms of W and S in ego_motion raised to this power before use (1 = as fitted, 0 = no zoom).
                    The least-squares fit dilutes a step forward or back (W 1.056 where the picture's centre zooms
                    about 1.09 per step), and the few steps do not add the rest in the model's own rollout; > 1 starts
                    the frame nearer the true motion. Saved with the model; play may override it (Session).
    ego_interp:     how ego_warp resamples the latent: "bilinear" low-passes the frame at every fractional move,
                    so a walk of the warps alone keeps 0.25 of the truth's detail after 4 frames (0.21 after 16),
                    and the few steps must draw it back every frame; "bicubic" keeps 0.40-0.45, about what the
                    VAE keeps. Fixed by the model's training: played with the other one, a model misreads its
                    frames (bilinear-trained v0.11 with bicubic moves over-sharpens and its colours run away).
    reproject:      play: the share r of each committed frame's latent (after frame 0) replaced by the VAE's
                    encoding of the picture it decodes to, before the next frame is made from it: (1 - r) z +
                    r E(D(z)). The round trip pulls the DiT's latent back towards the latents the encoder makes of
                    pictures, where its drift has no picture behind it. The picture shown is D(z) either way; costs
                    one encoder pass per frame. 0 = off; r = 1 over-saturates colours within about 16 frames (the
                    round trip's own drift compounds). Saved with the model; play may override it (Session).
    """

    window: int = 8
    fps: float = 10.0
    steps: int = 2
    shift: float = 1.0
    ctx_noise: float = 0.05
    ctx_noise_max: float = 0.1
    context_prob: float = 0.6
    logit_mean: float = 0.0
    logit_std: float = 1.0
    train_shift: float = 1.0
    grid_prob: float = 0.5
    text_dropout: float = 0.1
    first_steps: int = 16
    first_guidance: float = 3.0
    action_dropout: float = 0.0
    action_guidance: float = 1.0
    shortcut: float = 0.0
    self_rollout: float = 0.0
    self_rollout_target: str = "data"
    carry_rows: int = 0
    carry_clips: int = 32
    drift_decay: float = 0.0
    drift_shrink: float = 0.0
    gdl: float = 0.0
    distill: float = 0.0
    distill_steps: int = 4
    distill_guidance: float = 2.0
    bridge: float = 0.0
    ego_motion: tuple[tuple[float, float], ...] | None = None
    ego_gain: float = 1.0
    ego_interp: str = "bilinear"
    reproject: float = 0.0

    def __post_init__(self) -> None:
        if self.window < 1 or self.steps < 1 or self.first_steps < 1:
            raise ValueError("window, steps and first_steps must be >= 1")
        for name in ("ctx_noise", "ctx_noise_max", "context_prob", "grid_prob", "text_dropout", "action_dropout",
                     "self_rollout", "distill", "drift_decay", "drift_shrink", "reproject"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.self_rollout_target not in SELF_ROLLOUT_TARGETS:
            raise ValueError(f"self_rollout_target must be one of {', '.join(SELF_ROLLOUT_TARGETS)}, "
                             f"got {self.self_rollout_target!r}")
        if self.ego_interp not in EGO_INTERPS:
            raise ValueError(f"ego_interp must be one of {', '.join(EGO_INTERPS)}, got {self.ego_interp!r}")
        if self.carry_rows < 0 or self.carry_clips < 1:
            raise ValueError(f"carry_rows must be >= 0 and carry_clips >= 1, got {self.carry_rows} and "
                             f"{self.carry_clips}")
        if self.ctx_noise > self.ctx_noise_max:
            raise ValueError(f"ctx_noise ({self.ctx_noise}) must be at most ctx_noise_max ({self.ctx_noise_max}): "
                             "play must not noise committed frames more than training noised context frames")
        if self.fps <= 0 or self.shift <= 0 or self.train_shift <= 0 or self.logit_std <= 0:
            raise ValueError("fps, shift, train_shift and logit_std must be > 0")
        check_action_guidance(self.action_guidance)
        if not 0.0 <= self.shortcut < 1.0:
            raise ValueError(f"shortcut must be in [0, 1), got {self.shortcut}")
        if self.gdl < 0:
            raise ValueError(f"gdl must be >= 0 (the gradient difference loss's weight), got {self.gdl}")
        if self.distill_steps < 1:
            raise ValueError(f"distill_steps must be >= 1, got {self.distill_steps}")
        check_action_guidance(self.distill_guidance)
        if not 0.0 <= self.bridge <= BRIDGE_MAX:
            raise ValueError(f"bridge must be in [0, {BRIDGE_MAX:g}] (the noise around the previous frame), "
                             f"got {self.bridge}")
        if self.ego_motion is not None:
            self.ego_motion = tuple((float(z), float(dx)) for z, dx in self.ego_motion)  # JSON gives lists
            if self.bridge == 0:
                raise ValueError("ego_motion moves the previous frame a bridge starts from: it needs bridge > 0")
            if self.distill > 0:  # a teacher's path starts where its own frames start: not supported yet
                raise ValueError("ego_motion and distill together are not supported (the teacher's frames would "
                                 "have to start from the same moved frames)")
            if len(self.ego_motion) != len(KEYS) or not all(EGO_ZOOM[0] <= z <= EGO_ZOOM[1] and abs(dx) <= EGO_SHIFT
                                                            for z, dx in self.ego_motion):
                raise ValueError(f"ego_motion must be one (zoom, dx) per key of {' '.join(KEYS)}, zoom in "
                                 f"[{EGO_ZOOM[0]}, {EGO_ZOOM[1]}] and |dx| <= {EGO_SHIFT} latent pixels, got "
                                 f"{self.ego_motion}")
        if not 0.0 <= self.ego_gain <= EGO_GAIN_MAX:
            raise ValueError(f"ego_gain must be in [0, {EGO_GAIN_MAX:g}] (the power W's and S's zooms are raised to), "
                             f"got {self.ego_gain}")

    def grid_times(self) -> list[float]:
        """The times at which 1-, 2- and 4-step play evaluates the model (each schedule without its final 0)."""
        return sorted({t for t, _ in self.grid_jumps()})

    def grid_jumps(self) -> list[tuple[float, float]]:
        """The (t, d) pairs of every Euler step of 1-, 2- and 4-step play: from t, a jump of d."""
        from kinema.flow.timesteps import sampling_schedule

        pairs = set()
        for k in (1, 2, 4):
            ts = [float(t) for t in sampling_schedule(k, self.shift)]
            pairs |= {(round(a, 12), round(a - b, 12)) for a, b in zip(ts, ts[1:])}
        return sorted(pairs)


def frame_source(bridge: float, prev: Tensor, eps: Tensor) -> Tensor:
    """Where a new frame's flow starts (t = 1), like eps: the noise eps itself, or with PlayConfig.bridge > 0 the
    previous frame's clean latent prev plus bridge * eps."""
    return eps if bridge == 0 else prev + bridge * eps


def bridge_start(cfg: PlayConfig, prev: Tensor, actions: Tensor, eps: Tensor) -> Tensor:
    """frame_source for frames (B, C, T, h, w) made with actions (B, T) from previous latents prev (B, C, T, h, w):
    with PlayConfig.ego_motion (which needs a bridge) the previous frames are first moved by their key's motion."""
    return frame_source(cfg.bridge, ego_move(cfg, prev, actions), eps)


def format_ego_motion(ego_motion) -> str:
    """'W 1.062 +0.00, S 0.944 +0.00, ...': each key's (zoom, dx latent px) of PlayConfig.ego_motion, as fitted."""
    return ", ".join(f"{k} {float(z):.3f} {float(dx):+.2f}" for k, (z, dx) in zip(KEYS, ego_motion))


def ego_move(cfg: PlayConfig, z: Tensor, actions: Tensor) -> Tensor:
    """Latent frames z (B, C, T, h, w) moved by the PlayConfig.ego_motion of their keys, actions (B, T) (START and
    NULL_ACTION: not moved); z itself without ego motion. Linear in z (a fixed resampling, PlayConfig.ego_interp)."""
    if cfg.ego_motion is None:
        return z
    table = torch.tensor([*cfg.ego_motion, (1.0, 0.0), (1.0, 0.0)], dtype=torch.float32)  # KEYS, START, NULL_ACTION
    if cfg.ego_gain != 1.0:
        rows = [KEYS.index(k) for k in EGO_GAIN_KEYS]
        table[rows, 0] = table[rows, 0] ** cfg.ego_gain
    return ego_warp(z, table[actions.long().cpu()].to(z.device), cfg.ego_interp)


def ego_warp(z: Tensor, params: Tensor, mode: str = "bilinear") -> Tensor:
    """Latent frames z (B, C, T, h, w) each zoomed about its centre by params[..., 0] (> 1 magnifies: the camera came
    nearer) and moved params[..., 1] latent pixels to the right, params (B, T, 2); interpolated by `mode` (one of
    EGO_INTERPS), the border pixels repeated outside the frame. (1, 0) leaves a frame as it is up to float error
    (grid_sample's sampling places are a few 1e-7 off the pixel centres)."""
    B, C, T, h, w = z.shape
    p = params.reshape(B * T, 2).float()
    theta = torch.zeros(B * T, 2, 3, device=z.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / p[:, 0]
    theta[:, 0, 2] = -p[:, 1] * 2.0 / w  # output x reads input x - dx (grid units: 2 / w per pixel)
    frames = z.permute(0, 2, 1, 3, 4).reshape(B * T, C, h, w)
    grid = torch.nn.functional.affine_grid(theta, [B * T, C, h, w], align_corners=False)
    out = torch.nn.functional.grid_sample(frames.float(), grid, mode=mode, padding_mode="border",
                                          align_corners=False)
    return out.to(z.dtype).reshape(B, T, C, h, w).permute(0, 2, 1, 3, 4)


def fit_ego_motion(prev: Tensor, nxt: Tensor, actions: Tensor,
                   mode: str = "bilinear") -> tuple[tuple[float, float], ...]:
    """Per key of KEYS, the (zoom, dx) for which ego_warp(prev, ., mode) is nearest nxt in mean squared error over that
    key's pairs: prev, nxt (N, C, h, w) latent frames, actions (N,) the key between them. A grid search over EGO_ZOOM x
    +-EGO_SHIFT, then a finer one around the best point; a key with no pair keeps (1, 0)."""
    out = []
    for k in range(len(KEYS)):
        sel = actions == k
        if not bool(sel.any()):
            out.append((1.0, 0.0))
            continue
        a, b = prev[sel].float()[:, :, None], nxt[sel].float()  # (n, C, 1, h, w), (n, C, h, w)

        def err(z: float, dx: float) -> float:
            params = torch.tensor([[[z, dx]]]).expand(len(a), 1, 2)
            return float((ego_warp(a, params, mode)[:, :, 0] - b).square().mean())

        zooms, shifts = torch.linspace(*EGO_ZOOM, 19).tolist(), torch.linspace(-EGO_SHIFT, EGO_SHIFT, 25).tolist()
        z0, d0 = min(((z, d) for z in zooms for d in shifts), key=lambda zd: err(*zd))
        dz, dd = zooms[1] - zooms[0], shifts[1] - shifts[0]
        fine = [(z, d) for z in torch.linspace(z0 - dz, z0 + dz, 9).tolist() for d in
                torch.linspace(d0 - dd, d0 + dd, 9).tolist()
                if EGO_ZOOM[0] <= z <= EGO_ZOOM[1] and abs(d) <= EGO_SHIFT]
        z1, d1 = min(fine, key=lambda zd: err(*zd))
        out.append((round(z1, 4), round(d1, 4)))
    return tuple(out)


def check_action_guidance(g: float) -> None:
    if not 0.0 <= g <= ACTION_GUIDANCE_MAX:
        raise ValueError(f"action_guidance must be in [0, {ACTION_GUIDANCE_MAX:g}], got {g}")


def has_null_action(num_actions: int) -> bool:
    """Whether a play DiT with this many action embeddings has NULL_ACTION (needed for action dropout and guidance)."""
    return num_actions > NULL_ACTION


# ----------------------------------------------------------------------------------------------------------------------
# Sliding-window KV cache
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class WindowKV(KVCache):
    """One layer's keys/values in a preallocated buffer (B, heads, capacity, head_dim) (inference only).

    k, v hold the buffer; its first `stored` tokens are the cached frames, oldest first. extend() writes this call's
    keys after them and returns views of past + current; with write it keeps them (all, or the first keep_frames).
    """

    stored: int = 0  # tokens in the cache
    evicted: int = 0  # tokens dropped off the front so far (length = evicted + stored: RoPE positions stay absolute)
    frame_tokens: int = 0  # set by PlayDiT.forward
    keep_frames: int | None = None  # set by PlayDiT.forward from WindowCache.keep

    @property
    def length(self) -> int:
        return self.evicted + self.stored

    def trim(self, max_tokens: int) -> None:
        """Drop the oldest tokens beyond max_tokens (called by PlayDiT.forward before it uses the cache)."""
        drop = self.stored - max_tokens
        if drop > 0:
            self.k[:, :, :max_tokens] = self.k[:, :, drop:self.stored].clone()
            self.v[:, :, :max_tokens] = self.v[:, :, drop:self.stored].clone()
            self.stored, self.evicted = max_tokens, self.evicted + drop

    def extend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        B, heads, N, hd = k.shape
        need = self.stored + N
        if self.k is None or self.k.shape[2] < need:
            grown = k.new_zeros(B, heads, max(need, 2 * N + self.stored), hd)  # (B, h, capacity, hd)
            grown_v = torch.zeros_like(grown)
            if self.k is not None:
                grown[:, :, :self.stored] = self.k[:, :, :self.stored]
                grown_v[:, :, :self.stored] = self.v[:, :, :self.stored]
            self.k, self.v = grown, grown_v
        if self.k.shape[0] != B:
            raise ValueError(f"the cache holds batch {self.k.shape[0]}, this call has batch {B}")
        self.k[:, :, self.stored:need] = k.detach()
        self.v[:, :, self.stored:need] = v.detach()
        keys, values = self.k[:, :, :need], self.v[:, :, :need]  # (B, h, past + N, hd) views
        if self.write:
            self.stored += N if self.keep_frames is None else self.keep_frames * self.frame_tokens
        return keys.to(k.dtype), values.to(v.dtype)


@dataclass
class WindowCache(DiTCache):
    """A DiTCache for PlayDiT (see the module docstring). keep: with write, how many leading frames of the next call
    to commit (None = all)."""

    keep: int | None = None

    @property
    def frames(self) -> int:
        """Frames seen so far (committed, including those that slid out of the window)."""
        layer = self.layers[0]
        return layer.length // layer.frame_tokens if layer.frame_tokens else 0


# ----------------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------------


class PlayDiT(DiT):
    """DiT with causal_time, one action per latent frame and a sliding attention window of `window` frames."""

    def __init__(self, cfg: DiTConfig, window: int):
        if not cfg.causal_time or cfg.patch[0] != 1 or cfg.num_actions not in (NUM_ACTIONS, NUM_ACTIONS + 1):
            raise ValueError(f"a PlayDiT needs causal_time=True, a time patch of 1 and num_actions={NUM_ACTIONS + 1} "
                             f"({NUM_ACTIONS} before NULL_ACTION), got causal_time={cfg.causal_time}, "
                             f"patch={cfg.patch}, num_actions={cfg.num_actions}")
        if window < 1:
            raise ValueError(f"window must be >= 1 latent frame, got {window}")
        super().__init__(cfg)
        self.window = int(window)

    @property
    def has_null_action(self) -> bool:
        """Whether it has a NULL_ACTION embedding (needed for action guidance)."""
        return has_null_action(self.cfg.num_actions)

    def new_cache(self) -> WindowCache:
        return WindowCache(layers=[WindowKV() for _ in self.blocks])

    def _causal_mask(self, F: int, S: int, t_start: int, device: torch.device) -> Tensor | None:
        """Sliding-window block-causal mask (F*S, past*S + F*S): query frame q sees key frames q - window < k <= q.
        The cache holds past = min(t_start, window - 1) frames (PlayDiT.forward checks it)."""
        past = self._past_frames(t_start)
        if F == 1:
            return None  # one new frame sees the whole (windowed) cache and itself
        key = (F, S, t_start, str(device))
        mask = self._mask_cache.get(key)
        if mask is None:
            q = torch.arange(t_start, t_start + F, device=device).repeat_interleave(S)  # (N,) absolute frame
            k = torch.arange(t_start - past, t_start + F, device=device).repeat_interleave(S)  # (past*S + N,)
            mask = (k[None, :] <= q[:, None]) & (k[None, :] > q[:, None] - self.window)  # (N, past*S + N)
            if len(self._mask_cache) > 64:
                self._mask_cache.clear()
            self._mask_cache[key] = mask
        return mask

    def _past_frames(self, t_start: int) -> int:
        return min(t_start, self.window - 1)

    def forward(self, x: Tensor, t: Tensor, cond: DiTCond | None = None, cache: DiTCache | None = None) -> Tensor:
        """As DiT.forward; a cache must be this model's WindowCache (new_cache())."""
        if cache is not None:
            if not isinstance(cache, WindowCache) or not all(isinstance(l, WindowKV) for l in cache.layers):
                raise ValueError("PlayDiT needs its own WindowCache (model.new_cache()), not a plain DiTCache")
            S = (x.shape[-2] // self.cfg.patch[1]) * (x.shape[-1] // self.cfg.patch[2])
            for layer in cache.layers:
                if layer.frame_tokens not in (0, S):
                    raise ValueError(f"the cache holds frames of {layer.frame_tokens} tokens, this call has {S}")
                layer.frame_tokens, layer.keep_frames = S, cache.keep
                layer.trim((self.window - 1) * S)
            if cache.keep is not None and not (cache.write and 0 <= cache.keep <= x.shape[2]):
                raise ValueError(f"cache.keep needs cache.write and 0 <= keep <= {x.shape[2]} frames, got {cache.keep}")
        return super().forward(x, t, cond, cache)


def build_play_dit(cfg: DiTConfig | str, window: int, latent_channels: int | None = None) -> PlayDiT:
    """A PlayDiT from a PRESETS name or a DiTConfig (latent_channels replaced when given)."""
    from dataclasses import replace

    if isinstance(cfg, str):
        if cfg not in PRESETS:
            raise ValueError(f"unknown play preset {cfg!r}; choose one of: {', '.join(PRESETS)}")
        cfg = PRESETS[cfg]
    if latent_channels is not None:
        cfg = replace(cfg, latent_channels=latent_channels)
    return PlayDiT(cfg, window)

