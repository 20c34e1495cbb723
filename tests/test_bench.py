"""`kinema bench` at tiny sizes: every command's --json last line, FLOP counts against hand counts, the machine line.

No timed assertions: these check structure and arithmetic, never speed.
"""

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from kinema.bench.machine import describe, machine_info
from kinema.bench.sample import valid_frames
from kinema.bench.scaling import fit_exponent
from kinema.bench.train import VARIANTS, KinemaStep, video_grid
from kinema.cli import bench as bench_cli
from kinema.models.dit import PRESETS, DiT, DiTCond, flops_per_token, flops_split_per_token

TINY = PRESETS["tiny"]  # dim 32, depth 2, 2 heads x 16, MLP 4x, patch (1, 2, 2), 4 latent channels


def run_bench(argv, capsys):
    """Parse and run `kinema bench ...` as kinema.cli.main does -> (exit status, stdout lines, stderr)."""
    parser = argparse.ArgumentParser(prog="kinema")
    bench_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", *argv])
    try:
        status = args.run(args)
    except ValueError as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        status = 2
    out = capsys.readouterr()
    return status, out.out.strip().splitlines(), out.err


def last_json(lines):
    result = json.loads(lines[-1])
    assert {"command", "machine"} <= set(result)
    assert result["command"].startswith("kinema bench ")
    assert result["machine"]["cpu"] and result["machine"]["cores"] >= 1
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Machine, shapes
# ----------------------------------------------------------------------------------------------------------------------


def test_machine_names_the_cpu():
    m = machine_info()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and "model name" in cpuinfo.read_text():
        name = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("model name"))
        assert m["cpu"] == name.split(":", 1)[1].strip()
    assert set(m["flags"]) >= {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}
    assert m["cpu"] in describe(m) and "cores" in describe(m)


def test_video_grid_and_valid_frames():
    assert video_grid(2048) == (8, 16, 16)  # 2,064 tokens = 2,048 video + 16 text
    assert video_grid(256) == (4, 8, 8)
    assert video_grid(7) == (7, 1, 1)
    for n in (2048, 256, 7, 100, 16384):
        f, h, w = video_grid(n)
        assert f * h * w == n and h <= w
    assert [valid_frames(n, 4) for n in (1, 2, 5, 16, 17)] == [1, 5, 5, 17, 17]
    assert [valid_frames(n, 2) for n in (1, 2, 16)] == [1, 3, 17]
    with pytest.raises(ValueError, match=">= 1"):
        valid_frames(0, 4)


def test_fit_exponent_is_exact_on_a_power_law():
    assert fit_exponent([256, 1024, 4096], [3 * 256**1.5, 3 * 1024**1.5, 3 * 4096**1.5]) == pytest.approx(1.5)


# ----------------------------------------------------------------------------------------------------------------------
# FLOP counting
# ----------------------------------------------------------------------------------------------------------------------


def test_dit_flops_per_token_matches_a_hand_count_and_the_flop_counter():
    N, L, F = 16, 4, 4  # x (1, 4, 4, 4, 4): 4 latent frames of 2 x 2 tokens; 4 text tokens
    d = 32
    # per block, multiply-adds per video token: qkv 3d^2 + proj d^2 + cross q d^2 + cross proj d^2 + MLP 8d^2 = 14336,
    # attention QK^T + AV over 16 video tokens (self) and 4 text tokens (cross): 2 d (16 + 4) = 1280;
    # outside the blocks: patch embedding in (16 -> 32) and final projection out (32 -> 16) = 1024
    hand = 2 * (2 * (14336 + 1280) + 1024)
    assert flops_per_token(TINY, N, L) == hand == 64512
    # the exact count of every matmul of one forward (math SDPA, so attention shows as bmm) = per-token part +
    # per-frame / per-text-token parts: t_embed 4 x (256*32 + 32*32), text MLP 4 x (384*32 + 32*32), pooled
    # 384*32, per block adaLN 4 x 32*192 and cross k/v 4 x 32*64, final adaLN 4 x 32*64
    extras = (F * (256 * d + d * d) + L * (384 * d + d * d) + 384 * d
              + 2 * (F * d * 6 * d + L * d * 2 * d) + F * d * 2 * d)
    model = DiT(TINY)
    x = torch.randn(1, 4, 4, 4, 4)  # (B, C, T, H, W)
    cond = DiTCond(text=torch.randn(1, L, 384), text_mask=torch.ones(1, L, dtype=torch.bool))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(x, torch.full((1,), 0.5), cond)
    assert counter.get_total_flops() == N * hand + 2 * extras


def test_attainable_time_is_linear_at_the_matmul_peak_plus_attention_at_the_sdpa_peak():
    from kinema.bench.peak import Peak
    from kinema.bench.train import attainable_seconds

    peak = Peak(fp32_tflops=1.0, bf16_tflops=4.0, attention_bf16_tflops=2.0, size=8, repeat=1, attention={},
                cpu={"fp32_tflops": 0.5, "bf16_tflops": 2.0, "attention_bf16_tflops": 1.0})
    flops = {"linear": 8e12, "attention": 2e12}
    assert attainable_seconds(flops, peak, "bf16") == 8 / 4 + 2 / 2
    assert attainable_seconds(flops, peak, "bf16", "cpu") == 8 / 2 + 2 / 1
    assert attainable_seconds(flops, peak, "fp32") == 10 / 1  # fp32: the matmul peak stands in for attention's
    split = flops_split_per_token(TINY, 16, 4)
    assert sum(split.values()) == flops_per_token(TINY, 16, 4) and split["attention"] == 2 * 2 * 2 * 32 * (16 + 4)


def test_peer_flops_match_the_flop_counter():
    pytest.importorskip("diffusers")
    from kinema.bench.peer import PeerShape, build_transformer, transformer_inputs

    shape = PeerShape.matching(TINY, frames=4, height=4, width=4, text_len=4)
    model = build_transformer(shape)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(**transformer_inputs(shape, 1, torch.Generator().manual_seed(0)))
    d = 32  # left out of forward_flops, per sample: time MLP 2 d^2, adaLN-zero 2 x 6 d^2 per block, final adaLN 2 d^2
    assert counter.get_total_flops() == shape.forward_flops() + 2 * (2 * d * d + 2 * 12 * d * d + 2 * d * d)
    split = shape.forward_flops_split()
    S = 4 + 16  # joint sequence: text + video tokens
    assert split["attention"] == 2 * 2 * 2 * d * S * S and sum(split.values()) == shape.forward_flops()


# ----------------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------------


def test_peak_json(capsys):
    status, lines, _ = run_bench(["peak", "--size", "32", "--repeat", "1", "--attn", "1x1x16x8", "--json"], capsys)
    assert status == 0
    r = last_json(lines)
    assert r["peak"]["fp32_tflops"] > 0 and r["peak"]["bf16_tflops"] > 0 and r["peak"]["attention_bf16_tflops"] > 0
    assert r["peak"]["attention"] == {"batch": 1, "heads": 1, "tokens": 16, "head_dim": 8}
    assert any("bf16 matmul 32x32" in line for line in lines[:-1])  # the table is printed above the JSON


def test_train_json(capsys):
    argv = ["train", "--preset", "tiny", "--tokens", "40", "--text-len", "8", "--batch", "2", "--steps", "1",
            "--warmup", "0", "--peak-size", "32", "--variants", "baseline,fused-adamw", "--json"]
    status, lines, _ = run_bench(argv, capsys)
    assert status == 0
    r = last_json(lines)
    assert r["config"]["video_tokens"] == 32 and r["config"]["grid"] == [8, 2, 2]
    assert set(r["models"]) == {"kinema baseline", "kinema fused-adamw"}
    m = r["models"]["kinema baseline"]
    assert m["flops_per_step"] == 3 * 2 * 32 * flops_per_token(TINY, 32, 8)  # 3 x forward, batch 2, 32 tokens
    assert m["mfu"] > 0 and m["s_per_step"] > 0 and r["ratios"]["kinema baseline"] == 1.0
    assert sum(m["flops_split"].values()) == m["flops_per_step"]
    assert m["mfu"] == pytest.approx(m["attainable_mfu"] * m["of_attainable"])  # of_attainable = bound / measured
    assert "--variants baseline,fused-adamw" in r["command"]


def test_bf16_weights_with_fp32_masters_reproduce_autocast_exactly():
    # autocast rounds each fp32 weight to bf16 per step; storing that bf16 copy and stepping fp32 masters is the
    # same arithmetic, so the two runs must agree bit for bit (a check that the variant changes speed, not results)
    runs = [KinemaStep(TINY, (2, 2, 2), 2, 4, "bf16", VARIANTS[v]) for v in ("baseline", "bf16-weights")]
    losses = [[step() for _ in range(3)] for step in runs]
    assert losses[0] == losses[1]


def test_peer_missing_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers -> ImportError
    status, lines, err = run_bench(["train", "--preset", "tiny", "--peer", "--tokens", "40", "--text-len", "8"], capsys)
    assert status == 2 and lines == []
    assert err.count("\n") == 1 and "pip install 'kinema[peer]'" in err


def test_train_peer_json(capsys):
    pytest.importorskip("diffusers")
    argv = ["train", "--preset", "tiny", "--peer", "--tokens", "40", "--text-len", "8", "--batch", "2", "--steps",
            "1", "--warmup", "0", "--peak-size", "32", "--json"]
    status, lines, _ = run_bench(argv, capsys)
    assert status == 0
    r = last_json(lines)
    assert set(r["models"]) == {"kinema", "peer"} and r["peer_over_kinema"] > 0
    assert r["models"]["peer"]["params"] == round(r["param_ratio"] * r["models"]["kinema"]["params"])


def test_bad_train_arguments(capsys):
    status, _, err = run_bench(["train", "--preset", "tiny", "--variants", "warp-drive"], capsys)
    assert status == 2 and "unknown variant" in err and "fused-adamw" in err
    status, _, err = run_bench(["train", "--preset", "nope"], capsys)
    assert status == 2 and "unknown DiT preset" in err


@pytest.fixture(scope="module")
def tiny_model(make_tiny_model):
    return make_tiny_model("bench-tiny", 5)


def test_sample_json(capsys, tiny_model, tmp_path):
    argv = ["sample", "--model", str(tiny_model), "--frames", "4", "--size", "16x16", "--steps", "1,2",
            "--out", str(tmp_path), "--json"]
    status, lines, _ = run_bench(argv, capsys)
    assert status == 0
    r = last_json(lines)
    assert r["frames"] == 5 and r["frames_requested"] == 4  # 1 + 4k frames: 4 -> 5, and the output says so
    assert any("requested 4" in line for line in lines[:-1])
    assert [row["steps"] for row in r["kinema"]] == [1, 2]
    for row in r["kinema"]:
        assert {"text_s", "denoise_s", "decode_s", "save_s", "total_s", "peak_rss_gib"} <= set(row)
        assert row["total_s"] >= row["denoise_s"] + row["decode_s"]
    assert (tmp_path / "kinema-02.mp4").is_file() and r["peer"] is None


def test_sample_peer_json(capsys, tiny_model, tmp_path):
    pytest.importorskip("diffusers")
    # 9 frames = 3 latent frames: CogVideoX's VAE decodes an odd latent count to 1 + 4k frames (an even one to 4k)
    argv = ["sample", "--model", str(tiny_model), "--frames", "9", "--size", "16x16", "--steps", "1", "--peer",
            "--peer-steps", "2", "--out", str(tmp_path), "--json"]
    status, lines, _ = run_bench(argv, capsys)
    assert status == 0
    r = last_json(lines)
    assert r["peer"]["video_tokens"] == r["video_tokens"]  # matched latent token count
    assert r["peer"]["frames_out"] == r["frames"] and r["peer_over_kinema_total"] > 0


def test_sample_without_a_model_is_one_error(capsys, monkeypatch):
    monkeypatch.setattr("kinema.pipeline.default_model_dir", lambda: None)
    status, _, err = run_bench(["sample"], capsys)
    assert status == 2 and "--model" in err


def test_scaling_json(capsys, tmp_path):
    argv = ["scaling", "--preset", "tiny", "--tokens", "16,64", "--out", str(tmp_path / "s.png"), "--json"]
    status, lines, _ = run_bench(argv, capsys)
    assert status == 0
    r = last_json(lines)
    assert [row["tokens"] for row in r["rows"]] == [16, 64]
    assert set(r["exponents"]) == {"forward", "step", "forward_cpu", "step_cpu", "memory"}
    assert r["exponents"]["forward"] is not None
    assert Path(r["plot"]).stat().st_size > 1000
