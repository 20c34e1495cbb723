"""Interactive world mode (kinema.interactive, `kinema play`): KV-cache oracle, actions, CLI, bench, eval, training
resume. Tiny models at 16x16. The inverse-dynamics judge and the image metrics: tests/test_play_eval.py."""

from __future__ import annotations

import io
import json
import os
import pty
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.interactive.data import ExploreActionData, PlayDataConfig
from kinema.interactive.live import frame_to_ansi, play_live
from kinema.interactive.model import KEYS, START, PlayConfig, PlayDiT, action_ids
from kinema.interactive.recipe import load_play
from kinema.interactive.session import PlayModel, Session, reference_rollout, rollout
from kinema.models.dit import DiTCache, DiTCond
from kinema.video import probe
from kinema.worlds import explore as E

torch.set_num_threads(1)
SEED = 10_000_000  # an evaluation world seed


@pytest.fixture(scope="module")
def text():
    from kinema.models.text import load_text_encoder

    return load_text_encoder("minilm+zh")


@pytest.fixture(scope="module")
def tiny(text):
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3), seed=1, text_encoder=text)


@pytest.fixture(scope="module")
def tiny_shortcut(text):
    """A tiny shortcut model: the step-size input, with random (non-zero) weights."""
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, shortcut=0.25), seed=1, text_encoder=text)


@pytest.fixture(scope="module")
def tiny_bridge(text):
    """A tiny model whose frames start from the previous frame plus noise (PlayConfig.bridge)."""
    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3, bridge=0.5), seed=1, text_encoder=text)


@pytest.fixture(scope="module")
def tiny_ego(tiny_bridge):
    """tiny_bridge that also moves the previous frame by the key's camera motion (PlayConfig.ego_motion)."""
    ego = ((1.1, 0.0), (0.9, 0.0), (1.0, 1.5), (1.0, -1.5), (1.0, 0.5), (1.0, -0.5), (1.0, 0.0))
    return replace(tiny_bridge, cfg=replace(tiny_bridge.cfg, ego_motion=ego))


def _start(size: int = 16) -> np.ndarray:
    world = E.make_world("garden", SEED)
    return world.view(world.start_pose(), size, size)


# ----------------------------------------------------------------------------------------------------------------------
# The model: window KV cache == uncached forward, actions matter
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fuse,guidance,kind", [(True, 1.0, "tiny"), (False, 1.0, "tiny"), (True, 2.5, "tiny"),
                                                 (False, 2.5, "tiny"), (True, 1.0, "tiny_shortcut"),
                                                 (False, 2.5, "tiny_shortcut"), (True, 2.5, "tiny_bridge"),
                                                 (False, 1.0, "tiny_bridge"), (True, 2.5, "tiny_ego")])
def test_cached_rollout_equals_uncached_full_forward(request, fuse, guidance, kind):
    tiny = request.getfixturevalue(kind)
    keys = list("WWADQE.SW")  # 9 frames after the start: the window of 3 slides 7 times
    s = Session(tiny, "a garden", seed=3, steps=2, fuse=fuse, keep_latents=True, action_guidance=guidance)
    s.start_from_image(_start())
    for k in keys:
        s.step(k)
    ref = reference_rollout(tiny, s.latents[0], keys, "a garden", seed=3, steps=2, action_guidance=guidance)
    for got, want in zip(s.latents, ref):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    layer = s.cache.layers[0]
    assert layer.stored == 2 * 4 and layer.evicted == (len(keys) - 2) * 4  # window - 1 frames of 2x2 tokens
    # the oracle can fail: the same weights with a window past the rollout see older frames and diverge after 3
    wide = replace(tiny, dit=PlayDiT(tiny.dit.cfg, 100))
    wide.dit.load_state_dict(tiny.dit.state_dict())
    wide_ref = reference_rollout(wide, s.latents[0], keys, "a garden", seed=3, steps=2, action_guidance=guidance)
    torch.testing.assert_close(wide_ref[2], ref[2], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(wide_ref[-1], ref[-1], atol=1e-3)


def test_a_shortcut_model_is_told_each_jump(tiny_shortcut, monkeypatch):
    """Play asks a shortcut model for the mean velocity over each Euler step (d = t - t_next for the frame being made)
    and for no jump on the committed frame (whose keys and values the cache keeps)."""
    seen = []
    dit = tiny_shortcut.dit
    forward = type(dit).forward

    def spy(self, x, t, cond, cache=None):
        seen.append(cond.step.tolist())
        return forward(self, x, t, cond, cache)

    monkeypatch.setattr(type(dit), "forward", spy)
    s = Session(tiny_shortcut, "a garden", seed=0, steps=2, action_guidance=2.0)
    s.start_from_image(_start())
    s.step("W")
    assert seen == [[[0.0, 0.5]] * 2, [[0.5]] * 2]  # fused commit + first step, then the second step; two rows: g
    seen.clear()
    s.step("A")
    assert seen == [[[0.0, 0.5]] * 2, [[0.5]] * 2]
    seen.clear()
    flat = Session(tiny_shortcut, steps=4, fuse=False)
    flat.start_from_image(_start())
    flat.step("W")
    assert seen == [[[0.0]], [[0.25]], [[0.25]], [[0.25]], [[0.25]]]  # unfused commit, then 4 steps of 0.25


def test_actions_change_the_output_and_play_is_deterministic(tiny):
    def next_latent(key: str, seed: int = 0) -> torch.Tensor:
        s = Session(tiny, "a garden", seed=seed, steps=1, keep_latents=True)
        s.start_from_image(_start())
        s.step(key)
        return s.latents[-1]

    outs = {k: next_latent(k) for k in KEYS}
    assert torch.equal(next_latent("W"), outs["W"])  # same seed, same action: the same frame
    for a in KEYS:
        for b in KEYS:
            if a < b:
                assert not torch.allclose(outs[a], outs[b]), (a, b)
    assert action_ids("W A .").tolist() == [START, 0, 2, 6]


def test_action_guidance_extrapolates_from_the_null_action(tiny):
    """g = 0 plays the null action, g = 1 the action, and g = 2 goes past it by as much again (Euler with one step
    is linear in the velocity, so the frame latents are exactly affine in g)."""
    def next_latent(g: float) -> torch.Tensor:
        s = Session(tiny, "a garden", seed=5, steps=1, keep_latents=True, action_guidance=g)
        s.start_from_image(_start())
        s.step("A")
        return s.latents[-1]

    z0, z1, z2 = next_latent(0.0), next_latent(1.0), next_latent(2.0)
    assert not torch.allclose(z0, z1)
    torch.testing.assert_close(z2, 2 * z1 - z0, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="action_guidance"):
        Session(tiny, action_guidance=-1)


def test_window_cache_and_inputs_are_checked(tiny):
    x = torch.zeros(1, 4, 1, 4, 4)
    with pytest.raises(ValueError, match="WindowCache"):
        tiny.dit(x, torch.zeros(1, 1), DiTCond(), cache=DiTCache(layers=[]))
    with pytest.raises(ValueError, match="causal_time"):
        PlayDiT(replace(tiny.dit.cfg, causal_time=False), 3)
    s = Session(tiny, "", seed=0)
    with pytest.raises(ValueError, match="start the session"):
        s.step("W")
    s.start_from_image(_start())
    with pytest.raises(ValueError, match="unknown action"):
        s.step("X")
    with pytest.raises(ValueError, match="already started"):
        s.start_from_image(_start())
    with pytest.raises(ValueError, match="steps"):
        Session(tiny, "", steps=0)
    frame = Session(tiny, "a garden", seed=0).start_from_text((16, 16), steps=2)
    assert frame.shape == (16, 16, 3) and frame.dtype == np.uint8


# ----------------------------------------------------------------------------------------------------------------------
# Data, training, export, the CLI
# ----------------------------------------------------------------------------------------------------------------------


def test_explore_action_data_contract():
    data = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=4, seed=2)
    full = data.batch(3, 0, 1)
    halves = [data.batch(3, r, 2) for r in range(2)]
    assert torch.equal(full["video"], torch.cat([h["video"] for h in halves]))
    assert torch.equal(full["actions"], torch.cat([h["actions"] for h in halves]))
    assert full["video"].shape == (4, 3, 5, 16, 16) and full["actions"].shape == (4, 5)
    assert (full["actions"][:, 0] == START).all() and (full["actions"][:, 1:] < START).all()
    assert all("walks" not in c and "turns" not in c for c in full["caption"])  # the place, not the actions
    # frame i is the view after action i - 1: the world's own renderer, fed the same actions, agrees
    scenario, world_seed = data.clip(3 * 4)
    keys = [KEYS[int(a)] for a in full["actions"][0, 1:]]
    gt = E.render(scenario, seed=world_seed, frames=5, width=16, height=16, fps=10.0, actions=keys).video
    torch.testing.assert_close(full["video"][0], torch.from_numpy(gt).permute(3, 0, 1, 2).float() / 127.5 - 1)


def test_random_clips_draw_keys_uniformly_or_by_weight():
    """The random policy's keys: uniform by default (the same draws as before key weights existed, so old runs resume
    exactly), or in proportion to PlayDataConfig.key_weights; bad weights are refused."""
    from kinema.interactive.data import random_runs

    rng, old = np.random.default_rng(7), []
    while len(old) < 60:  # the uniform draws, written out
        old += [KEYS[int(rng.integers(len(KEYS)))]] * int(rng.integers(1, 9))
    assert random_runs(60, np.random.default_rng(7)) == old[:60]
    cfg = PlayDataConfig(key_weights={"S": 3, ".": 0})
    keys = random_runs(9000, np.random.default_rng(0), max_run=1, weights=[cfg.key_weight(k) for k in KEYS])
    assert abs(keys.count("S") / len(keys) - 3 / 8) < 0.02 and "." not in keys
    assert abs(keys.count("W") / len(keys) - 1 / 8) < 0.02
    data = ExploreActionData(replace(cfg, size="16x16", frames=9, walker_prob=0.0), batch_size=8, seed=1)
    assert bool((data.batch(0, 0, 1)["actions"][:, 1:] != KEYS.index(".")).all())  # weight 0: never drawn
    for bad in ({"X": 1.0}, {"S": -1.0}, dict.fromkeys(KEYS, 0.0)):
        with pytest.raises(ValueError, match="key_weights"):
            PlayDataConfig(key_weights=bad)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("play")
    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "2", "--frames", "4", "--out",
                 str(root / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(root / "vae"), "--preset", "tiny", "--steps", "2", "--frames", "5",
                 "--window", "3", "--ctx-noise-max", "0.3", "--ctx-noise", "0.15", "--out", str(root / "run"),
                 *common]) == 0
    assert main(["play", "export", str(root / "run"), "-o", str(root / "model")]) == 0
    return root


def test_training_resumes_exactly(tiny_dirs, tmp_path):
    args = ["play", "train", "--vae", str(tiny_dirs / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3",
            "--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32", "--warmup", "1"]

    def losses(run):
        return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert main([*args, "--steps", "3", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--steps", "3", "--out", str(tmp_path / "b"), "--ckpt-every", "1"]) == 0
    # restart b from its step-2 checkpoint
    for ckpt in sorted((tmp_path / "b").glob("ckpt-*"))[-1:]:
        import shutil

        shutil.rmtree(ckpt)
    assert main([*args, "--steps", "3", "--out", str(tmp_path / "b"), "--resume"]) == 0
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert sum(f.stat().st_size for f in (tiny_dirs / "model").iterdir()) < 25 * 2 ** 20
    conf = json.loads((tiny_dirs / "model" / "config.json").read_text())
    assert conf["kind"] == "play-model" and conf["dtype"] == "bfloat16"
    assert (conf["play"]["ctx_noise"], conf["play"]["ctx_noise_max"]) == (0.15, 0.3)  # the flags, kept for play
    assert Session(load_play(tiny_dirs / "model")).ctx_noise == 0.15
    with pytest.raises(ValueError, match="ctx_noise .* must be at most ctx_noise_max"):
        PlayConfig(ctx_noise=0.2, ctx_noise_max=0.1)
    model = load_play(tiny_dirs / "model")
    with pytest.raises(ValueError, match=r"ctx_noise must be in \[0, 0.3\]"):  # beyond what the model was trained on
        Session(model, ctx_noise=0.31)
    start = np.zeros((16, 16, 3), np.uint8)
    walks = [rollout(Session(model, seed=1, ctx_noise=c), ["W", "A", "W"], start) for c in (0.0, 0.3, 0.3)]
    assert not np.array_equal(walks[0][1:], walks[1][1:]) and np.array_equal(walks[1], walks[2])
    ticks = []  # on_frame (a progress bar's update) runs once per frame, the start view included
    assert len(rollout(Session(model), ["W", "A"], start, on_frame=lambda: ticks.append(1))) == len(ticks) == 3
    record = tiny_dirs / "model" / "training"  # the training record travels with the weights
    assert (record / "dit_config.json").read_text() == (tiny_dirs / "run" / "config.json").read_text()
    assert (record / "vae_metrics.jsonl").is_file() and (record / "dit_command.txt").is_file()


def test_warm_start_from_a_play_model_or_run(tiny_dirs, tmp_path):
    """play train --init-from starts a new run from an exported play model's (bf16 -> fp32) or a play run's (EMA) DiT
    weights, exactly, and keeps the latent statistics they were trained with (as train dit --init-from does)."""
    from safetensors.torch import load_file

    from kinema.interactive.recipe import build_play_run
    from kinema.train import TrainConfig
    from kinema.train.recipes import fit_latent_stats, load_vae, run_weights

    data = PlayDataConfig(size="16x16", frames=5, walker_prob=0.0)  # other clips than the source's: other fitted stats
    sources = {"model": load_file(str(tiny_dirs / "model" / "dit.safetensors")), "run": run_weights(tiny_dirs / "run")}
    for name, want in sources.items():
        cfg = TrainConfig(steps=1, batch_size=2, seed=7, out_dir=str(tmp_path / name))
        trainer = build_play_run("tiny", tiny_dirs / "vae", data, cfg, play_cfg=PlayConfig(window=3),
                                 init_from=tiny_dirs / name)
        got = trainer.model.state_dict()
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k].float()) for k in want)
        saved = json.loads((tiny_dirs / name / "config.json").read_text())["vae"]
        vae_cfg = trainer.objective.vae.cfg
        stats = (list(vae_cfg.latent_shift), list(vae_cfg.latent_scale))
        assert stats == (saved["latent_shift"], saved["latent_scale"])
    fitted = load_vae(tiny_dirs / "vae")
    fit_latent_stats(fitted, ExploreActionData(data, 2, 7))
    assert list(fitted.cfg.latent_scale) != saved["latent_scale"]  # so keeping the source's stats is seen above
    with pytest.raises(ValueError, match="neither an exported play model nor a play run"):
        build_play_run("tiny", tiny_dirs / "vae", data, cfg, play_cfg=PlayConfig(window=3), init_from=tiny_dirs / "vae")
    warm = tmp_path / "warm"  # the flag
    assert main(["play", "train", "--vae", str(tiny_dirs / "vae"), "--preset", "tiny", "--steps", "1", "--frames", "5",
                 "--window", "3", "--size", "16x16", "--batch-size", "2", "--precision", "fp32", "--init-from",
                 str(tiny_dirs / "model"), "--out", str(warm)]) == 0
    conf, model_conf = (json.loads((d / "config.json").read_text()) for d in (warm, tiny_dirs / "model"))
    assert (warm / conf["init_from"]).resolve() == (tiny_dirs / "model").resolve() and conf["vae"] == model_conf["vae"]


def test_runs_record_their_sources_relative_so_a_moved_checkout_still_exports(tiny_dirs, tmp_path):
    """A run's config names its VAE and warm start relative to the run directory (no machine path); the runs moved
    together elsewhere (a clone, another machine) still load and export from the same weights."""
    import shutil

    from safetensors.torch import load_file

    conf = json.loads((tiny_dirs / "run" / "config.json").read_text())
    assert conf["vae_source"] == "../vae"
    moved = tmp_path / "elsewhere"
    for name in ("vae", "run"):
        shutil.copytree(tiny_dirs / name, moved / name)
    assert main(["play", "export", str(moved / "run"), "-o", str(tmp_path / "model")]) == 0
    for f in ("vae.safetensors", "dit.safetensors"):
        got, want = load_file(str(tmp_path / "model" / f)), load_file(str(tiny_dirs / "model" / f))
        assert all(torch.equal(got[k], want[k]) for k in want)
    shutil.rmtree(moved / "vae")  # and it is the moved VAE that was read
    with pytest.raises(FileNotFoundError, match="elsewhere/vae holds no config.json"):
        load_play(moved / "run")


def test_action_dropout_trains_the_null_action_and_old_models_still_load(tiny_dirs, tmp_path, monkeypatch):
    """--action-dropout replaces noisy frames' actions by NULL_ACTION; a model made before NULL_ACTION and abs_pos
    existed (8 action embeddings, no position embedding, no action warp) warm-starts a new run with the null row as the
    mean of the others and a new position embedding and warp, resumes as it was, and plays only without action
    guidance."""
    from kinema.interactive import model as M

    common = ["--vae", str(tiny_dirs / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3", "--size",
              "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    old_tiny = replace(M.PRESETS["tiny"], num_actions=M.NUM_ACTIONS, abs_pos=False, action_warp=False)
    monkeypatch.setitem(M.PRESETS, "tiny", old_tiny)  # a run from before NULL_ACTION and abs_pos
    assert main(["play", "train", *common, "--steps", "1", "--out", str(tmp_path / "old")]) == 0
    assert main(["play", "export", str(tmp_path / "old"), "-o", str(tmp_path / "old-model")]) == 0
    monkeypatch.undo()
    old = load_play(tmp_path / "old-model")
    assert not old.dit.has_null_action and old.cfg.action_guidance == 1.0
    rollout(Session(old, seed=0), ["W"], np.zeros((16, 16, 3), np.uint8))  # plays as before
    with pytest.raises(ValueError, match="action guidance needs a model trained with a null action"):
        Session(old, action_guidance=2.0)
    assert main(["play", "train", *common, "--steps", "2", "--out", str(tmp_path / "old"), "--resume"]) == 0
    resumed = json.loads((tmp_path / "old" / "config.json").read_text())["model"]
    assert (resumed["num_actions"], resumed["abs_pos"], resumed["action_warp"]) == (M.NUM_ACTIONS, False, False)

    new = tmp_path / "new"
    assert main(["play", "train", *common, "--steps", "2", "--action-dropout", "0.5", "--action-guidance", "1.5",
                 "--init-from", str(tmp_path / "old-model"), "--out", str(new)]) == 0
    rows = load_play(new).dit.action_embed.weight.detach()
    assert load_play(new).dit.pos_embed is not None and old.dit.pos_embed is None
    assert load_play(new).dit.blocks[0].warp is not None and old.dit.blocks[0].warp is None
    old_rows = old.dit.action_embed.weight.detach().float()
    assert rows.shape[0] == M.NUM_ACTIONS + 1
    metrics = [json.loads(line) for line in (new / "metrics.jsonl").read_text().splitlines()]
    assert all(0 < m["null_action_frac"] < 1 for m in metrics)
    conf = json.loads((new / "config.json").read_text())["play"]
    assert (conf["action_dropout"], conf["action_guidance"]) == (0.5, 1.5)
    from kinema.interactive.recipe import build_play_run, export_play
    from kinema.train import TrainConfig

    fresh = build_play_run("tiny", tiny_dirs / "vae", PlayDataConfig(size="16x16", frames=5),
                           TrainConfig(steps=1, batch_size=2, out_dir=str(tmp_path / "fresh")),
                           play_cfg=PlayConfig(window=3), init_from=tmp_path / "old-model")
    torch.testing.assert_close(fresh.model.action_embed.weight.detach()[-1], old_rows.mean(0))  # the mean row
    assert Session(load_play(new)).action_guidance == 1.5
    assert main(["play", "export", str(new), "-o", str(tmp_path / "g3"), "--action-guidance", "3"]) == 0
    shipped = json.loads((tmp_path / "g3" / "config.json").read_text())
    assert (shipped["play"]["action_guidance"], shipped["play_trained"]["action_guidance"]) == (3.0, 1.5)
    assert Session(load_play(tmp_path / "g3")).action_guidance == 3.0
    with pytest.raises(ValueError, match="without a null action"):
        export_play(tmp_path / "old", tmp_path / "bad", play={"action_guidance": 2.0})
    with pytest.raises(ValueError, match="action_dropout"):
        PlayConfig(action_dropout=1.5)


def test_shortcut_training_warm_starts_resumes_exactly_and_plays(tiny_dirs, tmp_path):
    """play train --shortcut F: a flow-matching model warm-starts a shortcut run (its step-size input added at zero
    output), the share of shortcut clips is logged, the run resumes bit-exactly and keeps its step input."""
    import shutil

    from safetensors.torch import load_file

    args = ["play", "train", "--vae", str(tiny_dirs / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3",
            "--size", "16x16", "--batch-size", "4", "--log-every", "1", "--precision", "fp32", "--warmup", "1",
            "--shortcut", "0.5", "--init-from", str(tiny_dirs / "model"), "--steps", "3"]

    def metrics(run):
        return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--ckpt-every", "1"]) == 0
    shutil.rmtree(sorted((tmp_path / "b").glob("ckpt-*"))[-1])
    assert main([*args, "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = metrics(tmp_path / "a"), metrics(tmp_path / "b")
    assert [m["loss"] for m in a] == [m["loss"] for m in b]
    assert any(m["sc_share"] > 0 for m in a) and all(0 <= m["sc_share"] <= 1 for m in a)
    conf = json.loads((tmp_path / "b" / "config.json").read_text())
    assert conf["model"]["step_embed"] and conf["play"]["shortcut"] == 0.5
    model = load_play(tmp_path / "a")
    source = load_file(str(tiny_dirs / "model" / "dit.safetensors"))
    assert set(model.dit.state_dict()) - set(source) == {k for k in model.dit.state_dict() if k.startswith("step_")}
    assert len(rollout(Session(model, seed=0), ["W", "A"], np.zeros((16, 16, 3), np.uint8))) == 3
    with pytest.raises(ValueError, match="shortcut must be in"):
        PlayConfig(shortcut=1.0)


@pytest.mark.parametrize("guidance,kind", [(1.0, "tiny"), (2.5, "tiny"), (2.5, "tiny_shortcut"),
                                            (2.5, "tiny_bridge"), (2.5, "tiny_ego")])
def test_self_rollout_plays_as_sessions_do(request, guidance, kind):
    """The batched rollout that --self-rollout trains on is, row by row, what a Session with that row's seed plays."""
    from kinema.interactive.recipe import self_rollout

    model = request.getfixturevalue(kind)
    keys = list("WWADQE")  # past the window of 3
    sessions = []
    for seed in (3, 4):
        s = Session(model, "a garden", seed=seed, steps=2, action_guidance=guidance, keep_latents=True)
        s.start_from_image(_start())
        for k in keys:
            s.step(k)
        sessions.append(torch.cat(s.latents, dim=2))  # (1, C, T, h, w)
    emb = model.text.encode(["a garden"] * 2)
    cfg = replace(model.cfg, steps=2, action_guidance=guidance)
    actions = action_ids(keys).expand(2, -1)  # (2, T): START, then the keys
    z0 = torch.cat([sessions[0][:, :, :1], sessions[1][:, :, :1]])  # the same start view
    with torch.no_grad():
        got = self_rollout(model.dit, z0, actions, emb.tokens, emb.mask, cfg,
                           [torch.Generator().manual_seed(seed) for seed in (3, 4)])
    torch.testing.assert_close(got, torch.cat(sessions), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(sessions[0], sessions[1], atol=1e-3)  # the seeds matter, so each row's own is checked


def test_self_rollout_training_puts_the_model_rollout_in_the_context(tiny, tiny_dirs, tmp_path, monkeypatch):
    """--self-rollout F: that share of clips has its context frames replaced by the model's own rollout (a rollout
    that returns the data gives exactly the plain objective's loss, the real one another), logged as self_share; the
    run resumes exactly and the flag is saved."""
    import shutil

    from kinema.interactive import recipe as R

    data = ExploreActionData(PlayDataConfig(size="16x16", frames=5), batch_size=2, seed=2)
    batch = data.batch(0, 0, 1)

    def loss(cfg):
        torch.manual_seed(0)
        out = R.PlayObjective(tiny.vae, tiny.text, cfg)(tiny.dit, batch, torch.Generator().manual_seed(0))
        return float(out[0].detach()), out[1]

    plain, _ = loss(replace(tiny.cfg, self_rollout=0.0))
    own, metrics = loss(replace(tiny.cfg, self_rollout=1.0))
    assert metrics["self_share"] == 1.0 and own != plain
    calls = []
    with torch.no_grad():
        z = tiny.vae.normalize(tiny.vae.encode(batch["video"])[0].float())
    monkeypatch.setattr(R, "self_rollout", lambda model, z0, actions, *a: (calls.append(actions.shape), z)[1])
    same, _ = loss(replace(tiny.cfg, self_rollout=1.0))
    assert calls == [(2, 5)] and same == pytest.approx(plain, rel=1e-6)
    monkeypatch.undo()

    args = ["play", "train", "--vae", str(tiny_dirs / "vae"), "--preset", "tiny", "--frames", "5", "--window", "3",
            "--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32", "--warmup", "1",
            "--self-rollout", "0.5", "--action-dropout", "0.2", "--action-guidance", "2", "--steps", "3"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--ckpt-every", "1"]) == 0
    shutil.rmtree(sorted((tmp_path / "b").glob("ckpt-*"))[-1])
    assert main([*args, "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = ([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in
            (tmp_path / "a", tmp_path / "b"))
    assert [m["loss"] for m in a] == [m["loss"] for m in b] and all(0 <= m["self_share"] <= 1 for m in a)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["play"]["self_rollout"] == 0.5
    with pytest.raises(ValueError, match="self_rollout must be in"):
        PlayConfig(self_rollout=1.5)


@pytest.mark.parametrize("compare", [False, True])
def test_play_writes_mp4_with_the_right_frames(tiny_dirs, tmp_path, compare):
    out = tmp_path / "walk.mp4"
    argv = ["play", "--model", str(tiny_dirs / "model"), "--actions", "W W A D Q", "--frames", "8", "-o", str(out),
            "--seed", "4"] + (["--compare"] if compare else [])
    assert main(argv) == 0
    info = probe(out)
    assert (info["frames"], info["width"], info["height"]) == (8, 32 if compare else 16, 16)


def test_play_errors_are_one_clear_line(tiny_dirs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["play", "--live"]) == 2  # no model needed to refuse: the TTY check comes first
    assert "not a TTY" in capsys.readouterr().err
    assert main(["play", "--model", str(tiny_dirs / "model"), "--actions", "W Z", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "unknown action 'Z'" in capsys.readouterr().err
    assert main(["play", "--model", str(tiny_dirs / "vae"), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "not a play run or model directory" in capsys.readouterr().err


def test_live_loop_in_a_pseudo_terminal(tiny):
    master, slave = pty.openpty()
    stdin, stdout = os.fdopen(slave, "r"), io.StringIO()
    stdout.isatty = lambda: True

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
        while text not in stdout.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)

    def player():  # press W once the first frame is drawn, Esc once the frame after W is drawn
        wait_for("fps possible")
        os.write(master, b"w")
        wait_for("key W")
        os.write(master, b"\x1b")

    threading.Thread(target=player, daemon=True).start()
    stats = play_live(Session(tiny, "a garden"), _start(), fps=50.0, stdin=stdin, stdout=stdout)
    os.close(master)
    stdin.close()
    text = stdout.getvalue()
    assert stats["frames"] >= 1 and "key W" in text and "\u2580" in text
    assert frame_to_ansi(np.zeros((2, 3, 3), np.uint8))[0].count("\u2580") == 3


def test_bench_and_eval_json_last_line_parses(tiny_dirs, capsys, tmp_path):
    model = str(tiny_dirs / "model")
    assert main(["play", "bench", "--model", model, "--sizes", "16x16,32x16", "--steps", "1,2", "--frames", "2",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(r["size"], r["steps"]) for r in res["runs"]] == [("16x16", 1), ("16x16", 2), ("32x16", 1), ("32x16", 2)]
    assert all(r["latency_ms_p95"] >= r["latency_ms_mean"] * 0.5 > 0 for r in res["runs"]) and res["peak_rss_mb"] > 0
    out = tmp_path / "report"
    assert main(["play", "eval", "--model", model, "-n", "1", "--frames", "9", "--idm-worlds", "1", "--ctx-noise",
                 "0.25", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((out / "results.json").read_text()) == res
    from PIL import Image

    assert Image.open(out / "play_psnr.png").size[0] > 400
    # the contact sheet: one world per policy, a truth and a model row each, at frames 0, 1, 2, 4, 8 (5 columns)
    sheet = Image.open(out / "play_examples.png")
    assert sheet.size[1] > 4 * 32 and sheet.size[0] > 5 * 32
    report = (out / "report.md").read_text()
    assert "play_psnr.png" in report and "play_examples.png" in report and "direction following" in report
    command = f"kinema eval play --model {model} --ctx-noise 0.25 -n 1 --frames 9 --policies scripted,random "
    # every option, none of `kinema play`'s
    assert command + f"--idm-worlds 1 --first-world 0 --seed 0 --out {out} --json" in report
    assert res["ctx_noise"] == 0.25
    for r in res["policies"].values():  # a direction is right whenever the exact key is
        assert r["direction_accuracy"] >= r["action_accuracy"] and r["direction_accuracy_gt"] >= r["action_accuracy_gt"]
    assert res["horizons"] == [1, 8] and set(res["policies"]) == {"scripted", "random"}
    assert res["loop_closure"]["turns"] == 40 and res["loop_closure"]["gt_psnr_last_vs_first"] > 40



def test_export_refuses_another_kind_of_run_and_a_run_without_checkpoints(tiny_dirs, tmp_path):
    from kinema.interactive.recipe import export_play
    from kinema.train.checkpoint import write_json
    from kinema.train.export import export_pipeline

    with pytest.raises(ValueError, match="is not a play run directory .*'vae'"):
        export_play(tiny_dirs / "vae", tmp_path / "out")
    with pytest.raises(ValueError, match="is not a DiT run directory .*'play'"):
        export_pipeline(tiny_dirs / "run", tmp_path / "out")
    fresh = tmp_path / "fresh"  # a run that has written its config but no checkpoint yet
    fresh.mkdir()
    write_json(fresh / "config.json", json.loads((tiny_dirs / "run" / "config.json").read_text()))
    with pytest.raises(FileNotFoundError, match="holds no checkpoint yet"):
        export_play(fresh, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written on refusal


def test_a_run_from_an_exported_model_exports_back_into_it(tiny_dirs, tmp_path):
    """How a shipped model is continued: play train --vae MODEL --init-from MODEL, then play export into MODEL itself.
    The VAE stays the model's, and training/ holds the new run first and the model's earlier record after it,
    renumbered, over two generations."""
    import shutil

    from safetensors.torch import load_file

    model = tmp_path / "model"
    shutil.copytree(tiny_dirs / "model", model)
    rec = model / "training"
    vae_before = load_file(str(model / "vae.safetensors"))
    vae_train = json.loads((model / "config.json").read_text())["vae_train"]
    first_dit, first_vae = (rec / "dit_config.json").read_bytes(), (rec / "vae_config.json").read_bytes()
    runs = []
    for gen in range(2):
        runs.append(tmp_path / f"run{gen}")
        assert main(["play", "train", "--vae", str(model), "--init-from", str(model), "--preset", "tiny", "--steps",
                     "1", "--frames", "5", "--window", "3", "--size", "16x16", "--batch-size", "2", "--precision",
                     "fp32", "--seed", str(gen), "--out", str(runs[-1])]) == 0
        assert main(["play", "export", str(runs[-1]), "-o", str(model)]) == 0
    assert (rec / "dit_config.json").read_text() == (runs[1] / "config.json").read_text()
    assert (rec / "dit_init1_config.json").read_text() == (runs[0] / "config.json").read_text()
    assert (rec / "dit_init2_config.json").read_bytes() == first_dit
    assert (rec / "vae_config.json").read_bytes() == first_vae and not list(rec.glob("vae_init*"))
    vae_after = load_file(str(model / "vae.safetensors"))
    assert vae_after.keys() == vae_before.keys() and all(torch.equal(vae_after[k], vae_before[k]) for k in vae_after)
    assert json.loads((model / "config.json").read_text())["vae_train"] == vae_train
    assert load_play(model).info["step"] == 1
