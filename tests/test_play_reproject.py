"""Reprojection in play (PlayConfig.reproject): each committed frame after the first moves R of the way to the VAE's
encoding of the picture it shows, the picture itself unchanged; the setting is checked, recorded by the evaluation
and the benchmark, and shipped by export. Tiny models, 16x16."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.interactive.model import PlayConfig
from kinema.interactive.session import PlayModel, Session

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    from kinema.models.text import load_text_encoder

    return PlayModel.random("tiny", "tiny-t1", cfg=PlayConfig(window=3), seed=1,
                            text_encoder=load_text_encoder("minilm+zh"))


def _play(model, keys, **kw):
    s = Session(model, "a garden", seed=3, keep_latents=True, **kw)
    start = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    frames = [s.start_from_image(start)] + [s.step(k) for k in keys]
    return s, frames


def test_reprojection_pulls_committed_frames_to_their_pictures_encodings(tiny):
    keys = ["W", "A", "D"]
    plain, seen = _play(tiny, keys)
    for r in (1.0, 0.5):
        s, frames = _play(tiny, keys, reproject=r)
        torch.testing.assert_close(s.latents[0], plain.latents[0])  # frame 0 (the encoder's already) is kept
        np.testing.assert_array_equal(frames[1], seen[1])  # frame 1 is made from frame 0: the same picture
        vae = tiny.vae
        again = Session(tiny, "a garden", seed=3)  # decode frame 1 as the session did, then encode its picture
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            vae.decode_next(vae.denormalize(plain.latents[0]), again.decoder_cache)
            x = vae.decode_next(vae.denormalize(plain.latents[1]), again.decoder_cache)[0, :, -1].float().clamp(-1, 1)
            enc = vae.normalize(vae.encode(x[None, :, None])[0].float())
        torch.testing.assert_close(s.latents[1], (1 - r) * plain.latents[1] + r * enc)
        assert not np.array_equal(frames[2], seen[2])  # and the next frame is made from the moved latent
    s, frames = _play(tiny, keys, reproject=0.0)
    for a, b in zip(frames, seen):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="reproject must be in"):
        Session(tiny, reproject=1.5)
    with pytest.raises(ValueError, match="reproject must be in"):
        PlayConfig(reproject=-0.1)
    assert Session(replace(tiny, cfg=replace(tiny.cfg, reproject=0.25))).cfg.reproject == 0.25  # the model's own


def test_reprojection_is_recorded_by_eval_and_bench_and_shipped_by_export(tiny, tmp_path):
    from kinema.interactive.bench import bench_play, format_bench
    from kinema.interactive.evaluate import evaluate_play, format_report

    args = {"n": 1, "frames": 3, "policies": ("random",), "idm_worlds": 0, "progress": False}
    res = evaluate_play(tiny, reproject=0.5, **args)
    assert res["reproject"] == 0.5 and "reprojected 0.5," in format_report(res)[0]
    plain = evaluate_play(tiny, **args)
    assert plain["reproject"] == 0.0 and "reprojected" not in format_report(plain)[0]
    bench = bench_play(tiny, sizes=((16, 16),), steps=(1,), frames=2, warmup=0, reproject=0.5)
    assert bench["reproject"] == 0.5 and "reprojected 0.5" in format_bench(bench)[0]

    common = ["--size", "16x16", "--batch-size", "2", "--log-every", "1", "--precision", "fp32"]
    assert main(["play", "vae", "--preset", "tiny-t1", "--steps", "1", "--frames", "4", "--out",
                 str(tmp_path / "vae"), *common]) == 0
    assert main(["play", "train", "--vae", str(tmp_path / "vae"), "--preset", "tiny", "--steps", "1", "--frames", "5",
                 "--window", "3", "--out", str(tmp_path / "run"), *common]) == 0
    assert main(["play", "export", str(tmp_path / "run"), "-o", str(tmp_path / "model"), "--reproject", "0.5"]) == 0
    shipped = json.loads((tmp_path / "model" / "config.json").read_text())
    assert (shipped["play"]["reproject"], shipped["play_trained"]["reproject"]) == (0.5, 0.0)
    out = tmp_path / "walk.mp4"
    assert main(["play", "--model", str(tmp_path / "model"), "--actions", "W A", "-o", str(out), "--reproject",
                 "0.25"]) == 0
    assert out.stat().st_size > 0
