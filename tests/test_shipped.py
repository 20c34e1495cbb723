"""The shipped models (src/kinema/assets/kinema-physics and kinema-explore): present, within the size budget, bf16,
with their training record, and used by default."""

import json
from pathlib import Path

import numpy as np
import torch

from kinema.cli import main
from kinema.pipeline import default_model_dir
from kinema.video import probe, read_metadata


def check_shipped(d: Path | None, name: str) -> dict:
    """A shipped model directory: its DiT and VAE in bf16 within 25 MB, and the record that produced them; returns
    its config."""
    from safetensors.torch import load_file

    assert d is not None and d.name == name
    weights = sorted(d.glob("*.safetensors"))
    assert [w.name for w in weights] == ["dit.safetensors", "vae.safetensors"]
    assert sum(w.stat().st_size for w in weights) <= 25 * 2 ** 20
    for w in weights:
        assert {v.dtype for v in load_file(str(w)).values()} == {torch.bfloat16}
    for record in ("dit_command.txt", "dit_config.json", "dit_metrics.jsonl", "dit_loss.png", "vae_command.txt"):
        assert (d / "training" / record).is_file(), record
    return json.loads((d / "config.json").read_text())


def test_shipped_model_is_complete_and_small():
    conf = check_shipped(default_model_dir(), "kinema-physics")
    assert conf["kind"] == "pipeline" and conf["vae"]["time_down"] == 2  # 3 context frames = 2 latent frames


def test_generate_uses_the_shipped_model_by_default(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "ball.mp4"
    assert main(["generate", "a red ball moves to the right", "-o", str(out), "--frames", "16", "--steps", "2"]) == 0
    info = probe(out)
    assert (info["width"], info["height"], info["frames"], info["codec"]) == (64, 64, 16, "h264")
    meta = read_metadata(out)
    assert meta["model"] == "kinema-physics" and "sha256:" in meta["model_version"]
    assert meta["expanded_prompt"].startswith("On a white background")
    assert "prompt expanded to" in capsys.readouterr().out


def test_demo_writes_videos_and_a_sheet(tmp_path):
    torch.set_num_threads(1)
    assert main(["demo", "-o", str(tmp_path)]) == 0
    for name in ("t2v_en.mp4", "t2v_zh.mp4", "t2v_wide.mp4", "extend_collision.mp4"):
        assert probe(tmp_path / name)["codec"] == "h264", name
    assert probe(tmp_path / "t2v_wide.mp4")["width"] == 112
    assert Path(tmp_path / "demo_sheet.png").read_bytes()[:4] == b"\x89PNG"


def test_bf16_decode_is_within_2_of_fp32_on_the_shipped_model():
    """Pipeline.decode under bf16 (what generate uses by default) vs fp32, on one 16-frame 64x64 clip's latent
    (measured: at most 1/255 apart, 4% of values differ, ~6x faster on one thread)."""
    from kinema.pipeline import Pipeline
    from kinema.worlds import render

    torch.set_num_threads(1)
    pipe = Pipeline.from_pretrained(default_model_dir())
    z = pipe.encode(render("physics/collision", seed=10_000_003, frames=17, width=64, height=64).video)
    fp32, bf16 = pipe.decode(z)[:16], pipe.decode(z, bf16=True)[:16]
    assert fp32.shape == (16, 64, 64, 3) and np.abs(fp32.astype(int) - bf16.astype(int)).max() <= 2


def test_loading_and_sampling_import_no_training_machinery():
    """Cold start: `kinema generate` must not import what only training needs (torch.distributed's DTensor and
    checkpoint modules pull in sympy and dynamo: about a second of CPU on every start)."""
    import subprocess
    import sys

    code = ("import sys\nfrom kinema.pipeline import Pipeline, default_model_dir\n"
            "p = Pipeline.from_pretrained(default_model_dir())\n"
            "p.generate('a red ball', frames=1, steps=1)\n"
            "heavy = [m for m in ('sympy', 'torch.distributed.tensor', 'torch.distributed.checkpoint', "
            "'torch._dynamo') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_shipped_play_model_is_complete_small_and_plays_by_default(tmp_path):
    from kinema.cli.play import default_model_dir as play_model_dir

    conf = check_shipped(play_model_dir(), "kinema-explore")
    assert conf["kind"] == "play-model" and conf["play"]["action_guidance"] >= 1
    torch.set_num_threads(1)
    out = tmp_path / "walk.mp4"
    assert main(["play", "--actions", "W A D .", "-o", str(out), "--compare", "--seed", "1"]) == 0
    info = probe(out)
    assert (info["codec"], info["height"], info["frames"]) == ("h264", 64, 5) and info["width"] == 128
