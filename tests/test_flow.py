"""Flow matching: the time convention, schedules and samplers, against closed-form oracles."""

import math
import threading
from dataclasses import dataclass

import pytest
import torch

from kinema.flow import (DATA_T, NOISE_T, apply_shift, cat_conds, eps_from_velocity, guided_velocity, interpolate,
                         logit_normal, noise_like, sample, sample_euler, sample_heun, sampling_schedule, shift_for,
                         target_velocity, x0_from_velocity)

SAMPLERS = [sample_euler, sample_heun]


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---- path: the one convention ---------------------------------------------------------------------------------------


def test_time_convention_t1_is_noise_t0_is_data():
    assert (NOISE_T, DATA_T) == (1.0, 0.0)
    x0, eps = randn(2, 3, 4, 5, 6, seed=1), randn(2, 3, 4, 5, 6, seed=2)
    assert torch.equal(interpolate(x0, eps, torch.zeros(2)), x0)
    assert torch.equal(interpolate(x0, eps, torch.ones(2)), eps)
    assert torch.equal(target_velocity(x0, eps), eps - x0)
    # the velocity is the time derivative of the path: x_t - x_s = (t - s) v
    t, s = torch.tensor([0.7, 0.3]), torch.tensor([0.2, 0.1])
    diff = interpolate(x0, eps, t) - interpolate(x0, eps, s)
    torch.testing.assert_close(diff, (t - s).double().view(2, 1, 1, 1, 1) * target_velocity(x0, eps))


def test_recover_data_and_noise_from_velocity():
    x0, eps = randn(2, 3, 4, 5, 6, seed=1), randn(2, 3, 4, 5, 6, seed=2)
    t = torch.rand(2, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)  # one time per frame
    xt, v = interpolate(x0, eps, t), target_velocity(x0, eps)
    torch.testing.assert_close(x0_from_velocity(xt, v, t), x0, atol=1e-12, rtol=0)
    torch.testing.assert_close(eps_from_velocity(xt, v, t), eps, atol=1e-12, rtol=0)


def test_per_frame_times_broadcast_over_frames():
    x0, eps = torch.zeros(2, 3, 4, 5, 6), torch.ones(2, 3, 4, 5, 6)
    t = torch.tensor([[0.0, 0.25, 0.5, 1.0], [1.0, 1.0, 0.0, 0.0]])
    xt = interpolate(x0, eps, t)
    assert torch.equal(xt[:, :, :, 2, 3], t[:, None, :].expand(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        interpolate(x0, eps, torch.zeros(2, 5))


# ---- timesteps ------------------------------------------------------------------------------------------------------


def test_logit_normal_range_median_and_determinism():
    t = logit_normal(20000, torch.Generator().manual_seed(0))
    assert ((t > 0) & (t < 1)).all()
    assert abs(t.median().item() - 0.5) < 0.01
    t2 = logit_normal((20000,), torch.Generator().manual_seed(0), mean=1.0)
    assert abs(t2.median().item() - 1 / (1 + math.exp(-1.0))) < 0.01
    assert torch.equal(logit_normal((4, 3), torch.Generator().manual_seed(5)),
                       logit_normal((4, 3), torch.Generator().manual_seed(5)))


def test_shift_is_monotone_fixes_endpoints_and_one_is_identity():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    assert torch.equal(apply_shift(t, 1.0), t)
    for s in (0.5, 2.0, 3.0, 7.5):
        ts = apply_shift(t, s)
        assert (ts[1:] > ts[:-1]).all() and ts[0] == 0 and ts[-1] == 1
        assert ((ts >= t) if s > 1 else (ts <= t)).all()  # s > 1 moves every time toward noise
    assert apply_shift(t, 3.0)[50] > apply_shift(t, 2.0)[50]  # a larger shift moves further
    with pytest.raises(ValueError, match="shift"):
        apply_shift(t, 0.0)


def test_shift_grows_with_tokens():
    assert shift_for(256) == 1.0
    assert shift_for(1024) == pytest.approx(2.0)  # sqrt(1024 / 256)
    assert shift_for(256 * 9, base_shift=1.5) == pytest.approx(4.5)
    sizes = [shift_for(n) for n in (16, 64, 256, 1024, 4096)]
    assert sizes == sorted(sizes)
    with pytest.raises(ValueError, match="num_tokens"):
        shift_for(0)


def test_sampling_schedule():
    ts = sampling_schedule(8)
    assert ts.shape == (9,) and ts[0] == 1.0 and ts[-1] == 0.0
    assert torch.equal(ts, torch.arange(8, -1, -1, dtype=torch.float64) / 8)
    shifted = sampling_schedule(7, shift=3.1)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0 and (shifted[1:] < shifted[:-1]).all()
    with pytest.raises(ValueError, match="steps"):
        sampling_schedule(0)


# ---- samplers: exact oracles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_constant_velocity_integrates_exactly(sampler):
    v = randn(2, 4, 3, 2, 2, seed=1)
    x1 = randn(2, 4, 3, 2, 2, seed=2)
    const = lambda x, t, cond: v  # noqa: E731
    out = sampler(const, x1, sampling_schedule(13, shift=2.7), None)
    torch.testing.assert_close(out, x1 - v, atol=1e-12, rtol=0)
    # with integer data and a dyadic schedule every operation is exact in floating point
    vi, xi = v.round(), x1.round() * 8
    assert torch.equal(sampler(lambda x, t, c: vi, xi, sampling_schedule(8), None), xi - vi)


def test_linear_field_heun_matches_closed_form():
    # dx/dt = x - c  =>  x(0) = c + (x(1) - c) e^{-1}.  Heun multiplies (x - c) by (1 + h + h^2 / 2) per step exactly.
    c, x1 = randn(1, 2, 3, 2, 2, seed=3), randn(1, 2, 3, 2, 2, seed=4)
    field = lambda x, t, cond: x - c  # noqa: E731
    ts = sampling_schedule(32, shift=2.0)
    factor = math.prod(1 + h + h * h / 2 for h in (ts[1:] - ts[:-1]).tolist())
    heun = sample_heun(field, x1, ts, None)
    torch.testing.assert_close(heun, c + (x1 - c) * factor, atol=1e-12, rtol=0)
    exact = c + (x1 - c) * math.exp(-1)
    err_heun = (heun - exact).abs().max().item()
    err_euler = (sample_euler(field, x1, ts, None) - exact).abs().max().item()
    assert err_heun < 1e-3 and err_heun < err_euler / 10


def test_model_sees_per_frame_times_and_callback_sees_every_step():
    seen, steps_seen = [], []

    def model(x, t, cond):
        seen.append(t.clone())
        return torch.zeros_like(x)

    x = torch.zeros(2, 1, 3, 2, 2)
    sample_heun(model, x, sampling_schedule(4), None, callback=lambda i, n, xi: steps_seen.append((i, n, xi.shape)))
    assert all(t.shape == (2, 3) and t.dtype == torch.float32 for t in seen)
    assert [t[0, 0].item() for t in seen] == [1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25, 0.0]
    assert steps_seen == [(i, 4, x.shape) for i in range(4)]


# ---- classifier-free guidance ---------------------------------------------------------------------------------------


def cond_field(x, t, cond):
    """An elementwise field whose every channel depends on the conditioning (batch rows are independent)."""
    return torch.sin(x) * cond["scale"] + cond["shift"] + t[:, None, :, None, None]


def make_cond(B, C, seed):
    return {"scale": randn(B, C, 1, 1, 1, seed=seed), "shift": randn(B, C, 1, 1, 1, seed=seed + 1)}


def test_guidance_one_equals_no_guidance_exactly():
    calls = []

    def model(x, t, cond):
        calls.append(x.shape[0])
        return cond_field(x, t, cond)

    x, cond, uncond = randn(2, 4, 3, 2, 2), make_cond(2, 4, 10), make_cond(2, 4, 20)
    ts = sampling_schedule(5)
    for sampler in SAMPLERS:
        plain = sampler(model, x, ts, cond)
        assert torch.equal(sampler(model, x, ts, cond, uncond=uncond, guidance=1.0), plain)
    assert set(calls) == {2}  # the unconditional branch is never run at guidance 1
    with pytest.raises(ValueError, match="needs an uncond"):
        sample_euler(model, x, ts, cond, guidance=3.0)


def test_guidance_acts_on_all_channels():
    B, C = 2, 4
    a, b = randn(B, C, 3, 2, 2, seed=1), randn(B, C, 3, 2, 2, seed=2)
    x1 = randn(B, C, 3, 2, 2, seed=3)
    by_cond = lambda x, t, cond: cond  # noqa: E731  the velocity is the conditioning itself (constant in x and t)
    for g in (0.0, 2.5, 7.0):
        for sampler in SAMPLERS:
            out = sampler(by_cond, x1, sampling_schedule(6), a, uncond=b, guidance=g)
            torch.testing.assert_close(out, x1 - (b + g * (a - b)), atol=1e-12, rtol=0)  # every channel, 4 of 4
    unguided = sample_euler(by_cond, x1, sampling_schedule(6), a)
    guided = sample_euler(by_cond, x1, sampling_schedule(6), a, uncond=b, guidance=3.0)
    assert ((guided - unguided).abs().amax(dim=(0, 2, 3, 4)) > 0.1).all()


def test_batched_guidance_equals_two_separate_forwards():
    batches = []

    def model(x, t, cond):
        batches.append(x.shape[0])
        return cond_field(x, t, cond)

    x, cond, uncond = randn(2, 4, 3, 2, 2), make_cond(2, 4, 10), make_cond(2, 4, 20)
    t = torch.full((2, 3), 0.6, dtype=torch.float64)
    v = guided_velocity(model, x, t, cond, uncond, 4.0)
    assert batches == [4]  # one forward pass with cond and uncond stacked
    v_c, v_u = cond_field(x, t, cond), cond_field(x, t, uncond)
    assert torch.equal(v, v_u + 4.0 * (v_c - v_u))


def test_cat_conds_protocol_and_structure():
    @dataclass
    class Emb:
        tokens: torch.Tensor
        name: str

    class Padded:
        def __init__(self, n):
            self.n = n

        def cat(self, other):
            return Padded(self.n + other.n)

    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    assert torch.equal(cat_conds(a, b), torch.cat([a, b]))
    assert cat_conds(None, None) is None
    both = cat_conds({"e": Emb(a, "x"), "ids": (a, None)}, {"e": Emb(b, "x"), "ids": (b, None)})
    assert torch.equal(both["e"].tokens, torch.cat([a, b])) and both["e"].name == "x" and both["ids"][1] is None
    assert cat_conds(Padded(2), Padded(3)).n == 5
    with pytest.raises(ValueError, match="cannot batch"):
        cat_conds(a, "empty prompt")


# ---- context frames -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_context_frames_stay_exactly_the_context(sampler):
    B, C, T = 2, 3, 5
    ctx = randn(B, C, T, 2, 2, seed=7)
    mask = torch.tensor([[1, 0, 0, 0, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)  # interpolation, then extension
    m5 = mask[:, None, :, None, None].expand(B, C, T, 2, 2)
    inputs = []

    def model(x, t, cond):
        inputs.append((x.clone(), t.clone()))
        return cond_field(x, t, cond)

    cond, uncond = make_cond(B, C, 1), make_cond(B, C, 2)
    out = sampler(model, randn(B, C, T, 2, 2, seed=8), sampling_schedule(4), cond, uncond=uncond, guidance=2.0,
                  context=ctx, context_mask=mask)
    assert torch.equal(out[m5], ctx[m5])
    assert not torch.equal(out[~m5], ctx[~m5])
    for x, t in inputs:  # each forward holds cond and uncond: batch 2B
        assert torch.equal(x[:B][m5], ctx[m5]) and torch.equal(x[B:][m5], ctx[m5])
        assert torch.equal(t[:B], t[B:]) and (t[:B][mask] == 0).all()
        assert (t[:B][~mask] == t[0, 2]).all()  # every generated frame is at the current time
    with pytest.raises(ValueError, match="context"):
        sampler(model, ctx, sampling_schedule(2), cond, context=ctx)


# ---- determinism and independence of calls ---------------------------------------------------------------------------


def test_same_generator_same_sample_and_noise_comes_from_it():
    model = lambda x, t, cond: torch.tanh(x) * cond  # noqa: E731
    kw = dict(steps=4, sampler="heun", shift=2.0)
    a = sample(model, (1, 2, 3, 4, 4), 0.5, generator=torch.Generator().manual_seed(1), **kw)
    b = sample(model, (1, 2, 3, 4, 4), 0.5, generator=torch.Generator().manual_seed(1), **kw)
    c = sample(model, (1, 2, 3, 4, 4), 0.5, generator=torch.Generator().manual_seed(2), **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)
    eps = noise_like((1, 2, 3, 4, 4), torch.Generator().manual_seed(1))
    assert torch.equal(a, sample_heun(model, eps, sampling_schedule(4, 2.0), 0.5))
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(model, (1, 2, 3, 4, 4), 0.5, generator=torch.Generator(), steps=2, sampler="ddim")


def test_interleaved_calls_do_not_share_state():
    def model(x, t, cond):  # cond: (B,) one scale per sample
        return torch.tanh(x) * cond[:, None, None, None, None] + t[:, None, :, None, None]

    shape = (1, 2, 3, 4, 4)
    half, minus, zero = torch.tensor([0.5]), torch.tensor([-1.0]), torch.tensor([0.0])
    alone_a = sample(model, shape, half, steps=5, generator=torch.Generator().manual_seed(1), sampler="heun")
    alone_b = sample(model, shape, minus, steps=3, generator=torch.Generator().manual_seed(2), guidance=3.0,
                     uncond=zero)
    nested = {}

    def run_b_inside_a(i, n, x):  # a whole second sampling call in the middle of the first
        if i == 2:
            nested["b"] = sample(model, shape, minus, steps=3, generator=torch.Generator().manual_seed(2),
                                 guidance=3.0, uncond=zero)

    a = sample(model, shape, half, steps=5, generator=torch.Generator().manual_seed(1), sampler="heun",
               callback=run_b_inside_a)
    assert torch.equal(a, alone_a) and torch.equal(nested["b"], alone_b)
    results = {}
    threads = [threading.Thread(target=lambda k=k, s=s: results.__setitem__(k, sample(
        model, shape, half, steps=5, generator=torch.Generator().manual_seed(s), sampler="heun"))) for k, s in
        (("x", 1), ("y", 1))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert torch.equal(results["x"], alone_a) and torch.equal(results["y"], alone_a)


# ----------------------------------------------------------------------------------------------------------------------
# shortcut models: the step protocol and the self-consistency target
# ----------------------------------------------------------------------------------------------------------------------


class _StepCond:
    """A cond that records the step sizes the sampler asks for."""

    def __init__(self, step=None):
        self.step = step

    def with_step(self, d):
        return _StepCond(d)


def test_euler_asks_for_the_mean_velocity_over_each_jump():
    seen = []

    def model(x, t, cond):
        seen.append(cond.step.clone())
        return torch.zeros_like(x)

    ts = sampling_schedule(4, shift=2.0)
    sample_euler(model, randn(3, 2, 2, 2, 2, seed=0), ts, _StepCond())
    want = (ts[:-1] - ts[1:]).float()
    assert len(seen) == 4 and all(s.shape == (3,) for s in seen)
    torch.testing.assert_close(torch.stack([s[0] for s in seen]), want)
    heun_seen = []
    sample_heun(lambda x, t, c: heun_seen.append(c.step) or torch.zeros_like(x), randn(1, 2, 2, 2, 2), ts,
                _StepCond())
    assert heun_seen and all(s is None for s in heun_seen)  # Heun evaluates velocities, no step


def test_shortcut_target_is_two_half_euler_steps():
    from kinema.flow.shortcut import shortcut_target

    # s(x, t, d) = x, whatever t and d: the half jumps give x and x (1 - d/2), so the target is x (1 - d/4)
    x = randn(2, 3, 4, 2, 2, seed=5, dtype=torch.float32)
    d = torch.tensor([0.5, 0.25])
    t = torch.tensor([[0.0, 0.5, 0.75, 1.0], [0.0, 0.25, 0.25, 0.5]])
    mask = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    got = shortcut_target(lambda x, t, c: x.clone(), x, t, None, d, mask)
    frac = (d[:, None] / 2 * (1 - mask))[:, None, :, None, None]  # (B, 1, T, 1, 1): context frames do not move
    torch.testing.assert_close(got, x * (1 - frac / 2), atol=1e-6, rtol=0)
    assert torch.equal(got[:, :, 0], x[:, :, 0])


def test_shortcut_target_queries_half_steps_and_the_half_time():
    from kinema.flow.shortcut import MIN_STEP, shortcut_target

    calls = []

    def model(x, t, cond):
        calls.append((t.clone(), cond.step.clone()))
        return torch.ones_like(x)

    x = randn(2, 1, 2, 1, 1)
    d = torch.tensor([0.5, MIN_STEP])
    t = torch.tensor([[0.9, 0.9], [0.5, 0.5]])
    out = shortcut_target(model, x, t, _StepCond(), d)
    assert torch.equal(out, torch.ones_like(x))  # a constant velocity is its own shortcut
    (t1, q1), (t2, q2) = calls
    torch.testing.assert_close(q1, torch.tensor([0.25, 0.0]))  # a half jump under MIN_STEP asks for the velocity
    torch.testing.assert_close(t2, t - d[:, None] / 2)
    with pytest.raises(ValueError, match="t >= d"):
        shortcut_target(model, x, torch.full((2, 2), 0.1), _StepCond(), d)


def test_shortcut_target_with_a_jump_per_frame():
    """d (B, T): each frame jumps by its own d (interactive play), context frames are asked for a step of 0."""
    from kinema.flow.shortcut import shortcut_target

    calls = []

    def model(x, t, cond):
        calls.append(cond.step.clone())
        return x.clone()

    x = randn(1, 2, 3, 1, 1, seed=2, dtype=torch.float32)
    t = torch.tensor([[0.1, 1.0, 0.5]])
    d = torch.tensor([[0.0, 1.0, 0.25]])
    mask = torch.tensor([[1.0, 0, 0]])
    got = shortcut_target(model, x, t, _StepCond(), d, mask)
    torch.testing.assert_close(got, x * (1 - d[:, None, :, None, None] / 4), atol=1e-6, rtol=0)  # s = x, per frame
    torch.testing.assert_close(calls[0], torch.tensor([[0.0, 0.5, 0.125]]))
    same = shortcut_target(model, x, t, _StepCond(), torch.tensor([[0.5, 0.5, 0.5]]), mask)  # == one d for all
    torch.testing.assert_close(same, shortcut_target(model, x, t, _StepCond(), torch.tensor([0.5]), mask))
    assert calls[-1].shape == (1,) and calls[-3].tolist() == [[0.0, 0.25, 0.25]]  # context frame asked for 0
    with pytest.raises(ValueError, match="t >= d"):
        shortcut_target(model, x, t, _StepCond(), torch.tensor([[0.0, 1.0, 0.75]]), mask)


def test_step_sizes_are_log_uniform_in_range():
    from kinema.flow.shortcut import sample_step_sizes

    d = sample_step_sizes(20000, torch.Generator().manual_seed(0), min_step=1 / 64)
    assert float(d.min()) >= 1 / 64 and float(d.max()) <= 1
    octaves = torch.floor(-torch.log2(d)).clamp_max(5)  # 6 octaves, each ~1/6 of the draws
    share = torch.bincount(octaves.long(), minlength=6).float() / d.numel()
    torch.testing.assert_close(share, torch.full((6,), 1 / 6), atol=0.015, rtol=0)
    with pytest.raises(ValueError, match="min_step"):
        sample_step_sizes(3, torch.Generator(), min_step=0.0)
