"""Tests for kinema.models.layers and kinema.models.dit (tiny configs, exact oracles where possible)."""

from dataclasses import replace

import pytest
import torch

from kinema.models.dit import PRESETS, DiT, DiTCond, DiTConfig, count_params
from kinema.models.layers import Attention, KVCache, apply_rope, rope_3d, timestep_embedding

torch.set_num_threads(1)

TINY = DiTConfig(latent_channels=4, dim=32, depth=2, heads=2, text_dim=16)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randomise(model: DiT, seed: int = 1) -> DiT:
    """Give the zero-initialised layers (adaLN modulation, output) random weights so that outputs depend on input."""
    g = _gen(seed)
    layers = [b.ada[-1] for b in model.blocks] + [model.final.ada[-1], model.final.proj]
    layers += [model.pos_embed] if model.pos_embed is not None else []
    with torch.no_grad():
        for lin in layers:
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * 0.1)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.1)
        for block in model.blocks:  # action warps: random gains and maps near the identity
            if block.warp is not None:
                block.warp.table.weight.add_(torch.randn(block.warp.table.weight.shape, generator=g) * 0.3)
    return model


def _model(seed: int = 0, **overrides) -> DiT:
    torch.manual_seed(seed)  # tests only: module init draws from the global RNG
    return _randomise(DiT(replace(TINY, **overrides)).eval(), seed + 1)


def _inputs(B=2, T=3, H=4, W=6, L=5, seed=0, C=4, text_dim=16):
    g = _gen(seed)
    x = torch.randn(B, C, T, H, W, generator=g)
    t = torch.rand(B, T, generator=g)
    text = torch.randn(B, L, text_dim, generator=g)
    text_mask = torch.ones(B, L, dtype=torch.bool)
    text_mask[0, 3:] = False  # sample 0 has 3 real tokens and 2 padding tokens
    return x, t, DiTCond(text=text, text_mask=text_mask)


# ----------------------------------------------------------------------------------------------------------------------
# layers
# ----------------------------------------------------------------------------------------------------------------------


def test_timestep_embedding_shape_and_scaling():
    t = torch.tensor([0.0, 0.5, 1.0])
    emb = timestep_embedding(t, 64)
    assert emb.shape == (3, 64)
    assert torch.equal(emb[0, :32], torch.ones(32)) and torch.equal(emb[0, 32:], torch.zeros(32))  # cos 0, sin 0
    assert torch.allclose(emb[2, 0], torch.cos(torch.tensor(1000.0)))  # t scaled by 1000, first frequency 1


def test_rope_depends_only_on_position_differences():
    hd, T, H, W = 32, 6, 5, 7
    g = _gen(3)
    q, k = torch.randn(1, 1, 1, hd, generator=g), torch.randn(1, 1, 1, hd, generator=g)
    cos, sin = rope_3d(T, H, W, hd)  # (T*H*W, hd)

    def idx(t, h, w):
        return (t * H + h) * W + w

    def dot(p, r):
        qr = apply_rope(q, cos[idx(*p)][None], sin[idx(*p)][None])
        kr = apply_rope(k, cos[idx(*r)][None], sin[idx(*r)][None])
        return (qr * kr).sum()

    base = dot((0, 1, 2), (2, 3, 0))
    shifted = dot((3, 2, 6), (5, 4, 4))  # both positions moved by (3, 1, 4)
    assert torch.allclose(base, shifted, atol=1e-5)
    assert not torch.allclose(base, dot((0, 1, 2), (2, 3, 1)), atol=1e-3)  # a different offset changes it
    # real-valued positions: a grid that starts at t = 2.5 is the t = 0 grid shifted in time
    cos_s, sin_s = rope_3d(2, H, W, hd, t_start=2.5)
    cos_0, sin_0 = rope_3d(2, H, W, hd)
    qs, ks = q.expand(1, 1, 2 * H * W, hd), k.expand(1, 1, 2 * H * W, hd)  # the same q and k at every token
    scores_s = apply_rope(qs, cos_s, sin_s)[0, 0] @ apply_rope(ks, cos_s, sin_s)[0, 0].T  # (N, N)
    scores_0 = apply_rope(qs, cos_0, sin_0)[0, 0] @ apply_rope(ks, cos_0, sin_0)[0, 0].T  # (N, N)
    assert torch.allclose(scores_s, scores_0, atol=1e-4)


def test_attention_kv_cache_matches_full_pass():
    torch.manual_seed(0)
    attn = Attention(32, 2)
    x = torch.randn(2, 10, 32, generator=_gen())
    cos, sin = rope_3d(10, 1, 1, 16)
    causal = torch.ones(10, 10, dtype=torch.bool).tril()
    full = attn(x, (cos, sin), causal)
    cache = KVCache(write=True)
    first = attn(x[:, :6], (cos[:6], sin[:6]), causal[:6, :6], cache)
    cache.write = False
    rest = attn(x[:, 6:], (cos[6:], sin[6:]), causal[6:], cache)
    assert cache.length == 6  # write=False left the cache alone
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# DiT: init, shapes, errors, presets
# ----------------------------------------------------------------------------------------------------------------------


def test_zero_initialised_dit_outputs_exact_zeros():
    torch.manual_seed(0)
    model = DiT(replace(TINY, num_actions=3))
    x, t, cond = _inputs()
    cond = replace(cond, mask=torch.tensor([[1.0, 0, 0], [1, 1, 0]]), actions=torch.tensor([[0, 1, 2], [2, 2, 0]]))
    out = model(x, t, cond)
    assert out.shape == x.shape and torch.equal(out, torch.zeros_like(x))


@pytest.mark.parametrize("thw", [(1, 4, 4), (3, 4, 6), (5, 8, 4)])
def test_output_shape_equals_input_shape(thw):
    model = _model()
    x, t, cond = _inputs(T=thw[0], H=thw[1], W=thw[2])
    out = model(x, t, cond)
    assert out.shape == x.shape and out.abs().sum() > 0 and torch.isfinite(out).all()
    t_one = t[:, :1]  # (B, 1)
    assert torch.equal(model(x, t_one[:, 0], cond), model(x, t_one.expand(-1, thw[0]).contiguous(), cond))  # (B,) = all


def test_one_model_many_grid_sizes():
    model = _model()
    x, t, cond = _inputs(T=2, H=4, W=4)
    first = model(x, t, cond)
    for T, H, W in [(1, 6, 2), (4, 2, 8), (2, 8, 8)]:  # widescreen, vertical, larger: one model, RoPE per grid
        xi, ti, ci = _inputs(T=T, H=H, W=W)
        assert model(xi, ti, ci).shape == xi.shape
    assert torch.equal(model(x, t, cond), first)  # the per-grid caches do not leak between sizes


def test_temporal_patch_and_causal_patch():
    model = _model(patch=(2, 2, 2), causal_time=True)
    x, t, cond = _inputs(T=4, H=4, W=4)
    out = model(x, t, cond)
    assert out.shape == x.shape
    x2 = x.clone()
    x2[:, :, 2:] += 1.0  # second temporal patch (latent frames 2-3)
    out2 = model(x2, t, cond)
    torch.testing.assert_close(out2[:, :, :2], out[:, :, :2], atol=1e-6, rtol=0)
    assert not torch.allclose(out2[:, :, 2:], out[:, :, 2:])


@pytest.mark.parametrize(
    "make",
    [
        lambda x, t, c: (x[:, :3], t, c),  # wrong channel count
        lambda x, t, c: (x[:, :, :, :3], t, c),  # H not divisible by patch 2
        lambda x, t, c: (x[:, :, :, :, :5], t, c),  # W not divisible
        lambda x, t, c: (x[..., 0], t, c),  # 4-D input
        lambda x, t, c: (x, t[:, :2], c),  # t per frame with the wrong T
        lambda x, t, c: (x, t + 1.5, c),  # t outside [0, 1]
        lambda x, t, c: (x, t, replace(c, mask=torch.ones(2, 2))),  # mask with the wrong T
        lambda x, t, c: (x, t, replace(c, actions=torch.zeros(2, 3, dtype=torch.long))),  # num_actions=0
        lambda x, t, c: (x, t, replace(c, text=c.text[..., :8])),  # wrong text_dim
        lambda x, t, c: (x, t, replace(c, text_mask=torch.zeros(2, 5, dtype=torch.bool))),  # nothing kept
    ],
)
def test_bad_inputs_raise_value_error(make):
    model = _model()
    x, t, cond = _inputs()
    with pytest.raises(ValueError):
        model(*make(x, t, cond))


def test_bad_configs_and_time_patch_raise_value_error():
    with pytest.raises(ValueError):
        DiTConfig(latent_channels=4, dim=30, depth=1, heads=4)  # dim not divisible by heads
    with pytest.raises(ValueError):
        DiTConfig(latent_channels=4, dim=32, depth=1, heads=8)  # head_dim 4 too small for 3D RoPE
    model = _model(patch=(2, 2, 2))
    x, t, cond = _inputs(T=3)
    with pytest.raises(ValueError):
        model(x, t, cond)  # T = 3 not divisible by patch t = 2
    with pytest.raises(ValueError):
        DiT.from_config("nope")


def test_every_preset_builds_and_peer29m_matches_cogvideox_size():
    counts = {name: count_params(name) for name in PRESETS}
    for name, cfg in PRESETS.items():
        with torch.device("meta"):
            model = DiT(cfg)
        assert sum(p.numel() for p in model.parameters()) == counts[name] > 0
    assert abs(counts["peer29m"] / 29.0e6 - 1) < 0.05
    assert abs(counts["peer29m"] / 29_143_824 - 1) < 0.05  # diffusers CogVideoX, 8 layers, 6 x 64, in_channels 4
    assert 20e6 <= counts["S"] <= 30e6 and 5e6 <= counts["XS"] <= 10e6
    print({k: f"{v:,}" for k, v in counts.items()})
    model = DiT(PRESETS["tiny"])  # the tiny preset runs for real
    out = model(torch.randn(1, 4, 2, 4, 4), torch.rand(1), DiTCond(text=torch.randn(1, 3, 384)))
    assert out.shape == (1, 4, 2, 4, 4)


# ----------------------------------------------------------------------------------------------------------------------
# DiT: conditioning
# ----------------------------------------------------------------------------------------------------------------------


def test_per_frame_t_matters_and_is_causal_when_asked():
    for causal in (False, True):
        model = _model(causal_time=causal)
        x, t, cond = _inputs()
        out = model(x, t, cond)
        t2 = t.clone()
        t2[:, 2] = 1.0 - t2[:, 2]
        out2 = model(x, t2, cond)
        assert not torch.allclose(out2[:, :, 2], out[:, :, 2])  # frame 2 follows its own t
        if causal:
            torch.testing.assert_close(out2[:, :, :2], out[:, :, :2], atol=1e-6, rtol=0)
        else:
            assert not torch.allclose(out2[:, :, :2], out[:, :, :2])  # full attention: every frame sees frame 2


def test_causal_time_past_outputs_ignore_future_content():
    model = _model(causal_time=True)
    x, t, cond = _inputs(T=4)
    out = model(x, t, cond)
    x2 = x.clone()
    x2[:, :, 2:] = torch.randn(x2[:, :, 2:].shape, generator=_gen(9))
    out2 = model(x2, t, cond)
    torch.testing.assert_close(out2[:, :, :2], out[:, :, :2], atol=1e-6, rtol=0)
    assert not torch.allclose(out2[:, :, 2:], out[:, :, 2:])
    # the oracle can fail: without causal_time the past does change
    model_full = _model(causal_time=False)
    assert not torch.allclose(model_full(x2, t, cond)[:, :, :2], model_full(x, t, cond)[:, :, :2])


def test_padded_text_tokens_are_ignored():
    model = _model()
    x, t, cond = _inputs()
    out = model(x, t, cond)
    text2 = cond.text.clone()
    text2[0, 3:] = 100.0  # padding of sample 0
    torch.testing.assert_close(model(x, t, replace(cond, text=text2)), out, atol=1e-6, rtol=0)
    text3 = cond.text.clone()
    text3[0, 1] += 1.0  # a real token of sample 0
    assert not torch.allclose(model(x, t, replace(cond, text=text3))[0], out[0])


def test_null_text_path_and_drop_text_agree():
    model = _model()
    x, t, cond = _inputs()
    with_text = model(x, t, cond)
    null = model(x, t, cond.without_text())
    assert null.shape == x.shape and not torch.allclose(null, with_text)
    assert torch.equal(model(x, t), model(x, t, DiTCond()))  # cond=None is the unconditional call
    mixed = model(x, t, replace(cond, drop_text=torch.tensor([True, False])))  # CFG dropout inside one batch
    torch.testing.assert_close(mixed[0], null[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[1], with_text[1], atol=1e-6, rtol=0)


def test_actions_and_context_mask_change_the_output():
    model = _model(num_actions=4)
    x, t, cond = _inputs()
    a = replace(cond, actions=torch.tensor([[0, 1, 2], [3, 3, 3]]))
    b = replace(cond, actions=torch.tensor([[0, 1, 3], [3, 3, 3]]))
    out_a, out_b = model(x, t, a), model(x, t, b)
    assert not torch.allclose(out_a[0], out_b[0])
    torch.testing.assert_close(out_a[1], out_b[1], atol=1e-6, rtol=0)  # samples are independent
    with pytest.raises(ValueError):
        model(x, t, replace(cond, actions=torch.tensor([[0, 1, 4], [0, 0, 0]])))  # action out of range
    masked = model(x, t, replace(cond, mask=torch.tensor([[1.0, 0, 0], [0, 0, 0]])))
    assert not torch.allclose(masked[0], model(x, t, cond)[0])


# ----------------------------------------------------------------------------------------------------------------------
# DiT: precision, checkpointing, KV cache
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_bf16_autocast_forward_backward(causal):
    model = _model(causal_time=causal).train()
    x, t, cond = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t, cond)
        loss = out.float().pow(2).mean()
    loss.backward()
    assert out.dtype == torch.float32 and out.shape == x.shape
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())  # every parameter gets a gradient
    assert grads["blocks.0.attn.qkv.weight"].abs().sum() > 0
    with torch.no_grad():
        ref = model(x, t, cond)
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()  # bf16 stays close to float32


def test_grad_checkpointing_gives_the_same_gradients():
    grads = []
    for ckpt in (False, True):
        model = _model(grad_checkpointing=ckpt, causal_time=True).train()
        x, t, cond = _inputs()
        model(x, t, cond).pow(2).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("abs_pos,action_warp", [(False, False), (True, False), (False, True)])
def test_kv_cache_generation_matches_full_causal_pass(abs_pos, action_warp):
    model = _model(causal_time=True, num_actions=3, abs_pos=abs_pos, action_warp=action_warp)
    x, t, cond = _inputs(T=3, H=4, W=4)
    cond = replace(cond, mask=torch.tensor([[1.0, 1, 0], [1, 0, 0]]), actions=torch.tensor([[0, 1, 2], [1, 1, 0]]))
    full = model(x, t, cond)

    def frames(c, sl):
        return replace(c, mask=c.mask[:, sl], actions=c.actions[:, sl])

    cache = model.new_cache()
    cache.write = True
    past = model(x[:, :, :2], t[:, :2], frames(cond, slice(0, 2)), cache=cache)  # commit frames 0-1
    assert cache.tokens == 2 * 2 * 2
    cache.write = False
    for _ in range(2):  # e.g. two denoising steps of frame 2: the cache must stay as it is
        new = model(x[:, :, 2:], t[:, 2:], frames(cond, slice(2, 3)), cache=cache)
    assert cache.tokens == 8
    torch.testing.assert_close(past, full[:, :, :2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(new, full[:, :, 2:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        model(x[:, :, 2:, :2], t[:, 2:], frames(cond, slice(2, 3)), cache=cache)  # H changed
    with pytest.raises(ValueError):
        _model(causal_time=False)(x, t, replace(cond, mask=None, actions=None), cache=model.new_cache())


# ----------------------------------------------------------------------------------------------------------------------
# step-size input (shortcut models)
# ----------------------------------------------------------------------------------------------------------------------


def test_step_embed_starts_as_the_plain_model_and_then_matters():
    plain = _model()
    sc = DiT(replace(TINY, step_embed=True)).eval()
    missing, unexpected = sc.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("step_embed.") for k in missing)
    x, t, cond = _inputs()
    d = torch.tensor([0.25, 1.0])
    with torch.no_grad():
        base = plain(x, t, cond)
        assert torch.equal(sc(x, t, cond.with_step(d)), base)  # zero-output init: exactly the warm-start source
        assert torch.equal(plain(x, t, cond.with_step(d)), base)  # a model without the input ignores the step
        torch.nn.init.normal_(sc.step_embed.mlp[2].weight, std=0.1)
        y = sc(x, t, cond.with_step(d))
        assert not torch.allclose(y, base)
        assert torch.equal(sc(x, t, cond), sc(x, t, cond.with_step(torch.zeros(2))))  # None means d = 0
        y1 = sc(x[:1], t[:1], DiTCond(text=cond.text[:1], text_mask=cond.text_mask[:1], step=d[:1]))
        torch.testing.assert_close(y1, y[:1], atol=1e-5, rtol=1e-5)  # per-sample step
        T = x.shape[2]
        torch.testing.assert_close(sc(x, t, cond.with_step(d[:, None].expand(2, T))), y, atol=1e-5, rtol=1e-5)
        frames = d[:, None].repeat(1, T)  # (B, T) one step per frame: frame 0 asks for none (a committed frame)
        frames[:, 0] = 0
        y_frames = sc(x, t, cond.with_step(frames))
        assert not torch.allclose(y_frames, y)
        torch.testing.assert_close(sc(x, t, cond.with_step(torch.zeros(2, T))), sc(x, t, cond), atol=1e-5, rtol=1e-5)


def test_bad_step_raises():
    sc = DiT(replace(TINY, step_embed=True))
    x, t, cond = _inputs()
    with pytest.raises(ValueError, match="cond.step must be"):
        sc(x, t, cond.with_step(torch.zeros(3)))
    with pytest.raises(ValueError, match=r"cond.step must be \(B,\) = \(2,\) or \(B, T\)"):
        sc(x, t, cond.with_step(torch.zeros(2, x.shape[2] + 1)))
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        sc(x, t, cond.with_step(torch.tensor([0.5, 1.5])))


def test_a_deeper_dit_grown_from_a_shallow_one_computes_the_same_then_its_copies_learn(capsys):
    """load_warm_start grows depth-2 weights into a depth-4 DiT (grow_depth): the same outputs; each new block is a
    zero-gated copy of the one before it, whose modulation gets a gradient (so training moves it); a depth that is not
    a multiple is refused."""
    from kinema.train.recipes import grow_depth, load_warm_start

    small = _model()
    for b in small.blocks:  # a non-zero cross-attention output: the copies must silence it, not inherit it
        torch.nn.init.normal_(b.cross.proj.weight, std=0.1)
    deep = DiT(replace(TINY, depth=4)).train()
    load_warm_start(deep, small.state_dict())
    assert "growing the depth-2 weights to depth 4" in capsys.readouterr().out
    x, t, cond = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(deep.eval()(x, t, cond), small(x, t, cond), atol=1e-6, rtol=1e-6)
    assert torch.equal(deep.blocks[3].attn.qkv.weight, small.blocks[1].attn.qkv.weight)  # trained weights copied
    assert torch.equal(deep.blocks[2].ada[-1].weight, small.blocks[1].ada[-1].weight)  # the original kept live
    assert not deep.blocks[3].ada[-1].weight.any() and not deep.blocks[3].cross.proj.weight.any()  # the copy silent
    deep.train()(x, t, cond).square().mean().backward()
    assert deep.blocks[1].ada[-1].weight.grad.abs().sum() > 0 and deep.blocks[3].cross.proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="multiple of 2"):
        grow_depth(small.state_dict(), 3)
    with pytest.raises(ValueError, match="do not fit"):  # 3 is no multiple: not grown, refused as any mismatch
        load_warm_start(DiT(replace(TINY, depth=3)), small.state_dict())


def test_abs_pos_starts_as_the_plain_model_then_tells_places_apart():
    """abs_pos adds each token's place in the frame (frame_positions) through a zero-initialised layer: warm-started
    from a DiT without it, the same outputs; once trained (random weights here), two frames whose content is the same
    but shifted by one token no longer give outputs shifted by one token, as a RoPE-only DiT's interior tokens do."""
    from kinema.models.dit import frame_positions
    from kinema.train.recipes import load_warm_start

    plain = _model()
    placed = DiT(replace(TINY, abs_pos=True)).eval()
    load_warm_start(placed, plain.state_dict())
    x, t, cond = _inputs(H=8, W=12)
    with torch.no_grad():
        assert torch.equal(placed(x, t, cond), plain(x, t, cond))
        torch.nn.init.normal_(placed.pos_embed.weight, std=0.5)
        assert not torch.allclose(placed(x, t, cond), plain(x, t, cond))

        def shift_gap(model):  # an interior token's output, content shifted one token right vs not
            base = torch.randn(1, 4, 1, 8, 12, generator=_gen(3))
            moved = torch.roll(base, 2, dims=-1)  # one 2x2 patch to the right
            c = replace(cond, text=cond.text[:1], text_mask=cond.text_mask[:1])
            y0, y1 = model(base, t[:1, :1], c), model(moved, t[:1, :1], c)
            return (torch.roll(y0, 2, dims=-1) - y1)[..., 2:6, 4:8].abs().mean() / y0.abs().mean()

        assert shift_gap(placed) > 5 * shift_gap(plain)
    pos = frame_positions(4, 8)  # (32, 14): rows first; y, x offsets from the centre in half-heights
    assert pos.shape == (32, 2 + 4 * 3)
    torch.testing.assert_close(pos[0, :2], torch.tensor([-0.75, -1.75]))
    torch.testing.assert_close(pos[-1, :2], torch.tensor([0.75, 1.75]))
    torch.testing.assert_close(frame_positions(8, 8)[0, :2], torch.tensor([-0.875, -0.875]))  # any grid: same scale


def test_action_warp_starts_as_the_plain_model_and_reads_the_previous_frame_zoomed_or_shifted():
    """action_warp adds to each head's attention output the previous frame's values read at fixed places (zooms about
    the centre, one-token shifts: WARP_READS), mixed by gains per action: warm-started from a DiT without it (gains
    0), the same outputs; a shift read gives the values one token over (zero past the edge), a zoom read gives them at
    sub-token places, frame 0 (no previous frame) reads nothing, a cached call reads its last cached frame, and
    training reaches the gains."""
    from kinema.models.dit import WARP_READS, ActionWarp, warp_reads, warped_values
    from kinema.train.recipes import load_warm_start

    with pytest.raises(ValueError, match="action_warp needs"):
        DiTConfig(latent_channels=4, dim=32, depth=2, heads=2, num_actions=3, action_warp=True)  # not causal
    plain = _model(causal_time=True, num_actions=3)
    warped = DiT(replace(TINY, causal_time=True, num_actions=3, action_warp=True)).eval()
    load_warm_start(warped, plain.state_dict())
    x, t, cond = _inputs(H=8, W=12)
    cond = replace(cond, actions=torch.tensor([[0, 1, 2], [2, 2, 1]]))
    with torch.no_grad():
        assert torch.equal(warped(x, t, cond), plain(x, t, cond))

    Hp, Wp, hd, K = 4, 6, 3, len(WARP_READS)
    warp = ActionWarp(num_actions=3, heads=1)
    reads = warp_reads(Hp, Wp)
    right, zoom_out = WARP_READS.index((1.0, 1.0)), WARP_READS.index((1.19, 0.0))
    with torch.no_grad():  # action 1 reads one token to the right, action 2 half of it zoomed out
        warp.table.weight[1, right] = 1.0
        warp.table.weight[2, zoom_out] = 0.5
    v = torch.randn(1, 1, 2 * Hp * Wp, hd, generator=_gen(5))  # frames 0, 1 of one head
    prev = v.view(2, Hp, Wp, hd)[0]  # frame 0's values on the grid
    read = warped_values(v, warp(torch.tensor([[1, 1]])), reads, past=0, Hp=Hp, Wp=Wp).view(2, Hp, Wp, hd)
    assert torch.equal(read[0], torch.zeros(Hp, Wp, hd))  # frame 0 has no previous frame
    torch.testing.assert_close(read[1, :, :-1], prev[:, 1:], atol=1e-5, rtol=1e-5)  # one token over
    assert read[1, :, -1].abs().max() < 1e-6  # past the edge: zeros
    zoom = warped_values(v, warp(torch.tensor([[2, 2]])), reads, past=0, Hp=Hp, Wp=Wp).view(2, Hp, Wp, hd)
    # the token at (0.25, 0.25) (row 2, column 3) reads at 1.19 x: (0.2975, 0.2975), 0.095 of the way to row 3 / col 4
    f = 0.0475 / 0.5
    want = (1 - f) * ((1 - f) * prev[2, 3] + f * prev[2, 4]) + f * ((1 - f) * prev[3, 3] + f * prev[3, 4])
    torch.testing.assert_close(zoom[1, 2, 3], 0.5 * want, atol=1e-5, rtol=1e-5)
    # with a cache the keys start with `past` frames: query frame 0 reads the last cached frame
    cached = warped_values(v, warp(torch.tensor([[1]])), reads, past=1, Hp=Hp, Wp=Wp).view(Hp, Wp, hd)
    torch.testing.assert_close(cached, read[1], atol=1e-6, rtol=1e-6)
    assert reads.shape == (K, Hp * Wp, Hp * Wp) and bool((reads.sum(-1) <= 1 + 1e-6).all())
    torch.testing.assert_close(reads[WARP_READS.index((1.0, 0.0))], torch.eye(Hp * Wp))  # no zoom, no shift: copy

    model = _model(causal_time=True, num_actions=3, action_warp=True).train()
    model(x, t, cond).pow(2).mean().backward()
    assert all(b.warp.table.weight.grad[[0, 1, 2]].abs().sum() > 0 for b in model.blocks)
