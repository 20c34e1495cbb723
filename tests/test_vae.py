"""Tests for the causal video VAE (kinema.models.vae), on the tiny preset and 8..24 px frames."""

import json
from dataclasses import asdict, replace

import pytest
import torch

from kinema.models.vae import PRESETS, CausalVAE, VAEConfig, count_params, psnr, vae_loss

TINY = PRESETS["tiny"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny convolutions are dominated by thread synchronisation on a shared 2-core machine
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def random_model(cfg: VAEConfig = TINY, seed: int = 0) -> CausalVAE:
    """A tiny VAE with every weight random (the zero-initialised residual branches too), so oracles can fail."""
    g = torch.Generator().manual_seed(seed)
    model = CausalVAE(cfg, generator=g).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return model


def video(b: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # (B, 3, T, H, W)


def blobs(t: int = 5, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    """Two smooth coloured Gaussian blobs moving on white: (1, 3, T, H, W) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")  # (T, H, W) each
    out = torch.ones(3, t, h, w)
    for _ in range(2):
        colour = torch.rand(3, generator=g) * 2 - 1
        cy, cx = (torch.rand(2, generator=g) * torch.tensor([h, w])).tolist()
        vy, vx = torch.randn(2, generator=g).tolist()
        r = 2.5 + 1.5 * torch.rand(1, generator=g).item()
        a = torch.exp(-((yy - cy - vy * tt) ** 2 + (xx - cx - vx * tt) ** 2) / (2 * r * r))  # (T, H, W)
        out = out * (1 - a) + colour.view(3, 1, 1, 1) * a
    return out.clamp(-1, 1).unsqueeze(0)  # (1, 3, T, H, W)


# ----------------------------------------------------------------------------------------------------------------------
# Shapes and layout
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 5, 9, 17])
@pytest.mark.parametrize("hw", [(8, 8), (8, 20), (16, 12)])
def test_shapes(t, hw):
    model = random_model()
    h, w = hw
    with torch.no_grad():
        mean, logvar = model.encode(video(2, t, h, w))
        assert mean.shape == logvar.shape == (2, TINY.latent_channels, 1 + (t - 1) // 4, h // 4, w // 4)
        assert mean.dtype == torch.float32
        recon = model.decode(mean)
    assert recon.shape == (2, 3, t, h, w)


def test_image_is_first_frame_of_video():
    # frame 0 is encoded alone: the first latent of a video is the latent of its first frame as an image
    model = random_model()
    v = video(1, 9, 8, 12)
    with torch.no_grad():
        mean_video, _ = model.encode(v)
        mean_image, _ = model.encode(v[:, :, :1])
        assert mean_image.shape[2] == 1
        torch.testing.assert_close(mean_video[:, :, :1], mean_image, atol=1e-5, rtol=1e-5)  # float error only:
        torch.testing.assert_close(model.decode(mean_video)[:, :, :1], model.decode(mean_image), atol=1e-5, rtol=1e-5)


def test_f8_preset_shapes():
    cfg = replace(PRESETS["f8"], base_channels=4)  # the f8 layout (3 spatial stages, 2 temporal) at a tiny width
    model = random_model(cfg)
    with torch.no_grad():
        mean, _ = model.encode(video(1, 5, 16, 24))
        assert mean.shape == (1, cfg.latent_channels, 2, 2, 3)
        assert model.decode(mean).shape == (1, 3, 5, 16, 24)


# ----------------------------------------------------------------------------------------------------------------------
# Causality oracles
# ----------------------------------------------------------------------------------------------------------------------


def test_encoder_is_causal():
    model = random_model()
    v = video(1, 9, 8, 12)
    v2 = v.clone()
    v2[:, :, 5:] = video(1, 4, 8, 12, seed=1)  # new future: frames 5..8
    with torch.no_grad():
        m1, lv1 = model.encode(v)
        m2, lv2 = model.encode(v2)
    torch.testing.assert_close(m1[:, :, :2], m2[:, :, :2], atol=1e-6, rtol=0)  # latent frames 0, 1 cover frames 0..4
    torch.testing.assert_close(lv1[:, :, :2], lv2[:, :, :2], atol=1e-6, rtol=0)
    assert (m1[:, :, 2] - m2[:, :, 2]).abs().max() > 1e-3  # the latent of frames 5..8 does change


def test_decoder_is_causal():
    model = random_model()
    z = torch.randn(1, TINY.latent_channels, 3, 2, 3, generator=torch.Generator().manual_seed(0))
    z2 = z.clone()
    z2[:, :, 2] += 1.0
    with torch.no_grad():
        r1, r2 = model.decode(z), model.decode(z2)
    torch.testing.assert_close(r1[:, :, :5], r2[:, :, :5], atol=1e-6, rtol=0)  # frames 0..4 come from latents 0, 1
    assert (r1[:, :, 5:] - r2[:, :, 5:]).abs().max() > 1e-3


# ----------------------------------------------------------------------------------------------------------------------
# Chunked and tiled processing
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [4, 8])
def test_chunked_equals_full(chunk):
    model = random_model()
    v = video(1, 17, 8, 12)
    with torch.no_grad():
        mean, logvar = model.encode(v)
        mean_c, logvar_c = model.encode(v, chunk_frames=chunk)
        torch.testing.assert_close(mean_c, mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(logvar_c, logvar, atol=1e-5, rtol=0)
        torch.testing.assert_close(model.decode(mean, chunk_frames=chunk), model.decode(mean), atol=1e-5, rtol=0)


def test_streaming_one_latent_frame_at_a_time_equals_full():
    model = random_model()
    v = video(1, 13, 8, 8)
    with torch.no_grad():
        mean, _ = model.encode(v)
        enc_cache: dict = {}
        parts = [model.encode_next(v[:, :, :1], enc_cache)[0]]  # frame 0 alone, then 4 frames per call
        parts += [model.encode_next(v[:, :, a:a + 4], enc_cache)[0] for a in range(1, 13, 4)]
        torch.testing.assert_close(torch.cat(parts, dim=2), mean, atol=1e-5, rtol=0)
        dec_cache: dict = {}
        frames = [model.decode_next(mean[:, :, i:i + 1], dec_cache) for i in range(mean.shape[2])]
        assert [f.shape[2] for f in frames] == [1, 4, 4, 4]
        torch.testing.assert_close(torch.cat(frames, dim=2), model.decode(mean), atol=1e-5, rtol=0)
        with pytest.raises(ValueError):
            model.encode_next(v[:, :, 1:4], enc_cache)  # after the first call: multiples of 4 frames only


def test_tile_blending_is_exact_for_a_local_map():
    # with a pointwise "decoder" (nearest upsampling x4), overlapping tiles must blend back to the exact full result
    z = torch.randn(1, 3, 2, 10, 13, generator=torch.Generator().manual_seed(0))

    def up(x):
        return x.repeat_interleave(4, dim=-2).repeat_interleave(4, dim=-1)

    out = CausalVAE._tiled(up, z, (4, 5), (2, 2), 4, 1)
    torch.testing.assert_close(out, up(z), atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------------------------------------------------
# Training: the tiny model overfits one clip; tiled decoding of the trained model is close to full decoding
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def overfit():
    clip = blobs()  # (1, 3, 5, 16, 16)
    model = CausalVAE(TINY, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), lr=4e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss, metrics = vae_loss(model, clip, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), clip, metrics


def test_tiny_overfits_one_clip(overfit):
    model, clip, metrics = overfit
    assert set(metrics) >= {"loss", "l1", "mse", "kl", "psnr"}
    with torch.no_grad():
        recon = model.decode(model.encode(clip)[0])
    assert psnr(recon, clip) > 25.0


def test_tiled_decode_close_to_full(overfit):
    model, _, _ = overfit
    clip = torch.cat([blobs(5, 16, 24, seed=1), blobs(5, 8, 24, seed=2)], dim=3)  # (1, 3, 5, 24, 24)
    with torch.no_grad():
        mean, _ = model.encode(clip)
        full = model.decode(mean)
        tiled = model.decode(mean, tile=16, tile_overlap=8)  # 2 x 2 tiles of 4 latents, overlapping by 2
        tiled_enc, _ = model.encode(clip, tile=16, tile_overlap=8)
    # seams cost far less than the (one-clip) model's own reconstruction error on this unseen clip
    assert psnr(tiled, full) > max(25.0, psnr(full, clip) + 5.0)
    assert psnr(model.decode(tiled_enc), full) > max(25.0, psnr(full, clip) + 5.0)
    with torch.no_grad():  # a tile covering the frame is the full decode
        torch.testing.assert_close(model.decode(mean, tile=24), full, atol=1e-6, rtol=0)


def test_bf16_autocast_forward_and_loss():
    model = random_model()
    v = video(1, 5, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        recon, mean, logvar = model(v)
        loss, metrics = vae_loss(model, v, torch.Generator().manual_seed(0), edge_weight=0.5)
    assert recon.dtype == mean.dtype == torch.float32 and recon.shape == v.shape
    assert torch.isfinite(recon).all() and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        fp32, _, _ = model(v)
    assert (recon - fp32).abs().max() < 0.2 * fp32.abs().max()  # bf16 is close to fp32


# ----------------------------------------------------------------------------------------------------------------------
# Sampling, latent normalisation, config
# ----------------------------------------------------------------------------------------------------------------------


def test_sample_is_reproducible_and_mean_without_generator():
    mean, logvar = torch.zeros(1, 4, 2, 2, 2), torch.zeros(1, 4, 2, 2, 2)
    assert torch.equal(CausalVAE.sample(mean, logvar), mean)
    a = CausalVAE.sample(mean, logvar, torch.Generator().manual_seed(3))
    b = CausalVAE.sample(mean, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.std() > 0.5


def test_latent_normalisation():
    model = random_model()
    z = torch.randn(4, 4, 2, 3, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1, 2, 3, 4]).view(
        1, 4, 1, 1, 1
    ) + 5.0
    cfg = model.set_latent_stats(z)
    assert isinstance(cfg.latent_scale, tuple) and len(cfg.latent_scale) == 4
    n = model.normalize(z)
    torch.testing.assert_close(n.mean(dim=(0, 2, 3, 4)), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(n.std(dim=(0, 2, 3, 4)), torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.denormalize(n), z, atol=1e-5, rtol=0)
    assert VAEConfig(**json.loads(json.dumps(asdict(cfg)))) == cfg  # the config travels as JSON


def test_every_preset_builds_and_counts_params():
    counts = {name: count_params(cfg) for name, cfg in PRESETS.items()}
    print("VAE parameters:", counts)
    assert counts["tiny"] == sum(p.numel() for p in CausalVAE(TINY).parameters())
    assert counts["tiny"] < 100_000
    assert counts["tiny"] < counts["f4"] < 10_000_000
    assert counts["f4"] < counts["f8"] < counts["f8-large"]
    for cfg in PRESETS.values():
        assert VAEConfig(**json.loads(json.dumps(asdict(cfg)))) == cfg


# ----------------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(1, 3, 4, 8, 8), (1, 3, 6, 8, 8), (1, 3, 0, 8, 8), (1, 3, 5, 10, 8), (1, 3, 5, 8, 6), (1, 1, 5, 8, 8),
              (3, 5, 8, 8)]
)
def test_bad_video_raises(shape):
    with pytest.raises(ValueError):
        random_model().encode(torch.zeros(shape))


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_frames": 3}, {"chunk_frames": 0}, {"tile": 10}, {"tile": 8, "tile_overlap": 8},
     {"tile": 8, "tile_overlap": 2}],
)
def test_bad_chunk_or_tile_raises(kwargs):
    model = random_model()
    with pytest.raises(ValueError):
        model.encode(torch.zeros(1, 3, 5, 8, 8), **kwargs)
    with pytest.raises(ValueError):
        model.decode(torch.zeros(1, 4, 2, 2, 2), **kwargs)


def test_bad_latent_raises():
    with pytest.raises(ValueError):
        random_model().decode(torch.zeros(1, 5, 2, 2, 2))


@pytest.mark.parametrize(
    "kwargs",
    [{"space_down": 3}, {"time_down": 3}, {"channel_mult": (1, 2)}, {"channel_mult": (1, 3, 4)},
     {"latent_scale": (1.0, 2.0)}],
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        replace(TINY, **kwargs)


def test_object_weighted_loss_weights_the_objects_pixels_only():
    """vae_loss's weight: all ones is the plain loss exactly; VAEObjective(fg_weight) weights the pixels further than
    0.2 from the clip's median colour (an object on a flat background) 1 + fg_weight times and leaves the metrics."""
    from kinema.train.recipes import VAEObjective

    model = random_model()
    v = torch.full((2, 3, 5, 8, 8), -0.6)
    v[:, :, :, 2:4, 3:6] = 0.7  # an object: 6 of 64 pixels in every frame
    v[1, 1, :, 5, 5] = -0.5  # 0.1 from the background: not an object
    plain, m = vae_loss(model, v)
    ones, _ = vae_loss(model, v, weight=torch.ones(2, 1, 5, 8, 8))
    assert torch.equal(plain, ones)
    mask = torch.zeros(2, 1, 5, 8, 8)
    mask[:, :, :, 2:4, 3:6] = 1
    want, _ = vae_loss(model, v, weight=1 + 4 * mask)
    got, metrics, tokens = VAEObjective(fg_weight=4)(model, {"video": v}, None)
    assert torch.allclose(got, want, rtol=1e-6) and not torch.allclose(got, plain, rtol=1e-3)
    assert metrics["psnr"] == pytest.approx(m["psnr"]) and tokens == 2 * 5 * 8 * 8
    with pytest.raises(ValueError, match="fg_weight"):
        VAEObjective(fg_weight=-1)
