"""The training recipes end to end on the tiny presets: data contract, VAE and DiT runs, resume, generate, export."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kinema.cli import main
from kinema.train.data import EVAL_SEED_START, DataConfig, WorldData
from kinema.train.recipes import MODES, context_mask
from kinema.video import probe, write_video

TINY = ["--size", "16x16", "--frames", "5", "--batch-size", "2", "--log-every", "1"]


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "vae", "--preset", "tiny", "--steps", "2", "--out", str(run), *TINY]) == 0
    return run


def test_context_masks():
    assert context_mask("t2v", 5, 2).tolist() == [0, 0, 0, 0, 0]
    assert context_mask("i2v", 5, 2).tolist() == [1, 0, 0, 0, 0]
    assert context_mask("extend", 5, 2).tolist() == [1, 1, 0, 0, 0]
    assert context_mask("extend_back", 5, 2).tolist() == [0, 0, 0, 1, 1]
    assert context_mask("connect", 5, 2).tolist() == [1, 0, 0, 0, 1]
    for mode in MODES:  # an image (1 latent frame) is always generated from text alone
        assert context_mask(mode, 1, 2).tolist() == [0]


def test_world_data_contract():
    cfg = DataConfig(source="physics,scenes", sizes=("16x16", "24x16"), frames=(1, 5))
    data = WorldData(cfg=cfg, batch_size=4, seed=3)
    full = data.batch(7, 0, 1)
    halves = [data.batch(7, r, 2) for r in range(2)]
    assert torch.equal(full["video"], torch.cat([h["video"] for h in halves]))  # shards tile the global batch
    assert full["caption"] == halves[0]["caption"] + halves[1]["caption"]
    assert torch.equal(full["video"], WorldData(cfg=cfg, batch_size=4, seed=3).batch(7, 0, 1)["video"])
    assert full["video"].min() >= -1 and full["video"].max() <= 1
    shapes = {tuple(data.batch(s, 0, 1)["video"].shape[2:]) for s in range(12)}
    assert len(shapes) > 1  # variable sizes across steps, one size within a batch
    assert all(data.clip(i)[1] < EVAL_SEED_START for i in range(0, 10 ** 9, 10 ** 7))
    with pytest.raises(ValueError, match="unknown world"):
        WorldData(cfg=DataConfig(source="nowhere"), batch_size=1)


def test_dit_run_resumes_exactly_and_generates(tmp_path, vae_run):
    args = ["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--precision", "fp32", *TINY]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main([*args, "--steps", "4", "--out", str(straight)]) == 0
    assert main([*args, "--steps", "4", "--out", str(split), "--ckpt-every", "2"]) == 0
    # simulate an interruption after step 2: drop the last checkpoint and continue from step 2
    import shutil
    shutil.rmtree(split / "ckpt-000004")
    assert main([*args, "--steps", "4", "--out", str(split), "--ckpt-every", "2", "--resume"]) == 0
    assert losses(split) == losses(straight)  # identical next losses after resume

    out = tmp_path / "gen.mp4"
    assert main(["generate", "a red ball moves right", "--model", str(straight), "-o", str(out), "--frames", "5",
                 "--size", "16x16", "--steps", "2"]) == 0
    info = probe(out)
    assert (info["width"], info["height"], info["frames"], info["codec"]) == (16, 16, 5, "h264")
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["prompt"] == "a red ball moves right" and meta["seed"] == 0 and meta["steps"] == 2

    model = tmp_path / "model"
    assert main(["export", str(straight), "-o", str(model), "--name", "tiny-test"]) == 0
    from safetensors.torch import load_file
    assert all(v.dtype == torch.bfloat16 for v in load_file(str(model / "dit.safetensors")).values())
    from kinema.pipeline import Pipeline
    pipe = Pipeline.from_pretrained(model)
    a = pipe.generate("两个球相撞", frames=1, size=(16, 16), steps=2, seed=5, expand=False)
    b = pipe.generate("两个球相撞", frames=1, size=(16, 16), steps=2, seed=5, expand=False)
    assert a.video.shape == (1, 16, 16, 3) and np.array_equal(a.video, b.video)  # same seed, same image
    assert a.metadata["prompt_as_encoded"].lower().startswith("two balls")
    assert pipe.generate("x", frames=4, size=(16, 16), steps=1).video.shape[0] == 4  # made as 5, cut to 4
    with pytest.raises(ValueError, match="trained range"):
        pipe.generate("x", frames=1, size=(18, 16))


def test_train_on_a_folder_of_user_videos(tmp_path):
    from kinema.worlds import render

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(4):
        s = render("physics/uniform", seed=i, frames=8, width=24, height=16)
        write_video(folder / f"clip{i}.mp4", s.video, 10.0)
        (folder / f"clip{i}.txt").write_text(s.caption["en"]["short"])
    (folder / "broken.mp4").write_bytes(b"not a video")
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="broken.mp4"):
        assert main(["train", "vae", "--preset", "tiny", "--world", str(folder), "--steps", "2", "--out", str(run),
                     "--size", "24x16", "--frames", "5", "--batch-size", "2", "--log-every", "1"]) == 0
    assert len(losses(run)) == 2


def test_bad_train_arguments_are_one_line(tmp_path, capsys, vae_run):
    assert main(["train", "dit", "--preset", "tiny", "--out", str(tmp_path / "r")]) == 2
    assert "--vae" in capsys.readouterr().err
    assert main(["train", "vae", "--preset", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown VAE preset" in capsys.readouterr().err
    assert main(["train", "vae", "--preset", "tiny", "--frames", "4", "--out", str(tmp_path / "r")]) == 2
    assert "1 + 4k" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_match_one(tmp_path, vae_run):
    """`torchrun --nproc_per_node 2 -m kinema train dit` (gloo on CPU) gives the 1-process losses."""
    args = ["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--precision", "fp32", "--steps", "2", *TINY]
    one = tmp_path / "one"
    assert main([*args, "--out", str(one)]) == 0
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "kinema", *args, "--out", str(two)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(losses(two), losses(one), rtol=0, atol=1e-5)


def test_warm_start_and_mode_probs(tmp_path, vae_run):
    """--init-from starts a new run from another run's (EMA) DiT weights; --mode-probs reaches the objective."""
    from kinema.train import TrainConfig
    from kinema.train.recipes import FlowConfig, build_dit_run, run_weights

    src = tmp_path / "src"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "2", "--out", str(src),
                 *TINY]) == 0
    cfg = TrainConfig(steps=1, batch_size=2, out_dir=str(tmp_path / "warm"))
    from kinema.train.data import DataConfig
    flow = FlowConfig(mode_probs=(0.0, 0.0, 1.0, 0.0, 0.0))
    trainer = build_dit_run("tiny", vae_run, DataConfig(sizes=("16x16",), frames=(5,)), cfg, flow=flow,
                            init_from=src)
    want = run_weights(src)
    got = trainer.model.state_dict()
    assert all(torch.equal(got[k].float(), want[k].float()) for k in want)
    trainer.fit()
    from kinema.train.export import export_pipeline
    record = export_pipeline(tmp_path / "warm", tmp_path / "m") / "training"
    assert (record / "dit_init1_config.json").read_text() == (src / "config.json").read_text()  # the lineage
    assert trainer.objective.flow.mode_probs == (0.0, 0.0, 1.0, 0.0, 0.0)
    src_vae = json.loads((src / "config.json").read_text())["vae"]  # the latent statistics the weights learned
    assert list(trainer.objective.vae.cfg.latent_scale) == src_vae["latent_scale"]
    with pytest.raises(ValueError, match="neither"):
        build_dit_run("tiny", vae_run, DataConfig(sizes=("16x16",), frames=(5,)), cfg, init_from=vae_run)


def test_decoder_finetune_keeps_the_latents_and_ships_with_the_dit(tmp_path, vae_run, capsys):
    """train vae --init-from --freeze-encoder changes the decoder only; export --vae ships it beside a DiT that learned
    the base VAE's latents, and refuses a VAE with another encoder."""
    from kinema.train.recipes import run_weights

    dec = tmp_path / "dec"
    assert main(["train", "vae", "--init-from", str(vae_run), "--freeze-encoder", "--steps", "2", "--lr", "1e-2",
                 "--out", str(dec), *TINY]) == 0
    base, tuned = run_weights(vae_run), run_weights(dec)
    enc = [k for k in base if k.startswith("encoder.")]
    assert enc and all(torch.equal(base[k], tuned[k]) for k in enc)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("decoder."))
    conf = json.loads((dec / "config.json").read_text())
    assert conf["preset"] == "tiny" and conf["freeze_encoder"] is True

    dit = tmp_path / "dit"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "1", "--out", str(dit),
                 *TINY]) == 0
    model = tmp_path / "model"
    assert main(["export", str(dit), "-o", str(model), "--vae", str(dec)]) == 0
    from safetensors.torch import load_file
    shipped = load_file(str(model / "vae.safetensors"))
    assert all(torch.equal(shipped[k], tuned[k].to(torch.bfloat16)) for k in tuned)
    assert (model / "training" / "vae_init1_config.json").is_file()  # the decoder fine-tune's base run
    assert json.loads((model / "config.json").read_text())["vae_train"]["freeze_encoder"] is True

    other = tmp_path / "other"  # a whole new VAE: its latents are not the ones the DiT learned
    assert main(["train", "vae", "--preset", "tiny", "--steps", "1", "--seed", "9", "--out", str(other), *TINY]) == 0
    capsys.readouterr()
    assert main(["export", str(dit), "-o", str(tmp_path / "m2"), "--vae", str(other)]) == 2
    assert "another encoder" in capsys.readouterr().err
    assert main(["train", "vae", "--freeze-encoder", "--steps", "1", "--out", str(tmp_path / "x"), *TINY]) == 2
    assert "needs --init-from" in capsys.readouterr().err
    assert main(["train", "vae", "--preset", "f4", "--init-from", str(vae_run), "--out", str(tmp_path / "y"),
                 *TINY]) == 2
    assert "does not match" in capsys.readouterr().err


def test_shortcut_objective_warm_starts_exactly_trains_and_samples(tmp_path, vae_run):
    """--shortcut adds the step-size input to a flow-matching run's weights (same outputs at the start), trains with
    self-consistency targets on part of each batch, and the result samples through the usual pipeline."""
    from kinema.models.dit import DiTCond
    from kinema.pipeline import Pipeline
    from kinema.train import TrainConfig
    from kinema.train.data import DataConfig
    from kinema.train.recipes import FlowConfig, build_dit_run, run_weights

    src = tmp_path / "src"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "2", "--out", str(src),
                 *TINY]) == 0
    cfg = TrainConfig(steps=3, batch_size=4, log_every=1, out_dir=str(tmp_path / "sc"))
    trainer = build_dit_run("tiny", vae_run, DataConfig(sizes=("16x16",), frames=(5,)), cfg,
                            flow=FlowConfig(shortcut_frac=0.5), init_from=src)
    model = trainer.model.eval()
    assert model.cfg.step_embed and model.step_embed is not None
    from kinema.models.dit import DiT
    plain = DiT(json_cfg(src)).eval()
    plain.load_state_dict({k: v.float() for k, v in run_weights(src).items()})
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, model.cfg.latent_channels, 3, 4, 4, generator=g), torch.rand(2, 3, generator=g)
    with torch.no_grad():
        assert torch.equal(model(x, t, DiTCond(step=torch.tensor([0.5, 1.0]))), plain(x, t, DiTCond()))
    trainer.model.train()
    trainer.fit()
    records = [json.loads(line) for line in (tmp_path / "sc" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["sc_share"] <= 1 and 0 <= r["loss_sc_part"] <= r["loss"] + 1e-6 for r in records)
    assert any(r["sc_share"] > 0 for r in records) and all(np.isfinite(r["loss"]) for r in records)
    assert json.loads((tmp_path / "sc" / "config.json").read_text())["flow"]["shortcut_frac"] == 0.5
    pipe = Pipeline.from_pretrained(tmp_path / "sc")
    assert pipe.generate("a red ball", frames=5, size=(16, 16), steps=2).video.shape == (5, 16, 16, 3)
    out = pipe.generate("a red ball", frames=5, size=(16, 16))  # a shortcut model samples in 4 steps by default
    assert out.metadata["steps"] == 4 and Pipeline.from_pretrained(src).default_steps == 16


def json_cfg(run):
    from kinema.models.dit import DiTConfig

    return DiTConfig(**json.loads((Path(run) / "config.json").read_text())["model"])


def test_foreground_mask_follows_the_causal_latent_grid():
    """An object (a square away from the clip's dominant colour) marks the latent positions that cover it: video
    frame 0 -> latent 0, frames 2k-1..2k -> latent k (time_down 2), 4x4 pixels -> one position (space_down 4)."""
    from kinema.train.recipes import foreground_mask

    video = torch.ones(1, 3, 9, 16, 16)  # white
    video[0, :, 3, 4:6, 7:9] = -1  # a black square in frame 3, pixel rows 4-5, cols 7-8
    fg = foreground_mask(video, 5, 4, 4)
    assert fg.shape == (1, 5, 4, 4)
    assert fg.sum() == 2 and fg[0, 2, 1, 1] == 1 and fg[0, 2, 1, 2] == 1  # latent 2 (frames 3-4), row 1, cols 1-2
    assert foreground_mask(video[:, :, :1], 1, 4, 4).sum() == 0  # a single frame (an image) works too
    faint = torch.ones(1, 3, 1, 16, 16)
    faint[0, 0, 0, :2, :2] = 0.9  # 13 levels off white: background noise, not an object
    assert foreground_mask(faint, 1, 4, 4).sum() == 0
    with pytest.raises(ValueError, match="latent grid"):
        foreground_mask(video, 4, 4, 4)


def test_fg_weight_reweights_the_loss_and_is_validated(tmp_path, vae_run):
    """fg_weight = 0 is the plain objective; > 0 changes the loss on the same batch and logs the object share."""
    from kinema.train import TrainConfig
    from kinema.train.data import DataConfig
    from kinema.train.recipes import FlowConfig, build_dit_run

    data = DataConfig(source="physics", sizes=("16x16",), frames=(5,))
    got = {}
    for w in (0.0, 4.0):
        cfg = TrainConfig(steps=1, batch_size=2, out_dir=str(tmp_path / f"{w}"), precision="fp32")
        trainer = build_dit_run("tiny", vae_run, data, cfg, flow=FlowConfig(fg_weight=w))
        batch = trainer.data.batch(0, 0, 1)
        with torch.no_grad():
            got[w] = trainer.objective(trainer.model, batch, torch.Generator().manual_seed(0))
    (l0, m0, n0), (l4, m4, n4) = got[0.0], got[4.0]
    assert "fg_frac" not in m0 and 0 < m4["fg_frac"] < 1 and n0 == n4
    assert not torch.isclose(l0, l4)
    with pytest.raises(ValueError, match="fg_weight"):
        FlowConfig(fg_weight=-1)
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "1", "--fg-weight", "2",
                 "--out", str(tmp_path / "cli"), *TINY]) == 0
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["flow"]["fg_weight"] == 2


def test_a_dit_run_from_an_exported_model_exports_back_into_it(tmp_path, vae_run):
    """How the shipped physics model is continued: train dit --vae MODEL --init-from MODEL, export into MODEL. The
    VAE, its training record and the model's earlier DiT record (renumbered after the new run) are kept; a loss curve
    missing from that record is drawn from its metrics."""
    from safetensors.torch import load_file

    first, model = tmp_path / "first", tmp_path / "model"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "1", "--out", str(first),
                 *TINY]) == 0
    assert main(["export", str(first), "-o", str(model)]) == 0
    vae_before = load_file(str(model / "vae.safetensors"))
    vae_train = json.loads((model / "config.json").read_text())["vae_train"]
    (model / "training" / "dit_loss.png").unlink()  # as in an export taken before the run drew its curve
    again = tmp_path / "again"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(model), "--init-from", str(model), "--steps", "1",
                 "--out", str(again), *TINY]) == 0
    assert main(["export", str(again), "-o", str(model)]) == 0
    rec = model / "training"
    assert (rec / "dit_config.json").read_text() == (again / "config.json").read_text()
    assert (rec / "dit_init1_config.json").read_text() == (first / "config.json").read_text()
    with Image.open(rec / "dit_init1_loss.png") as im:  # drawn again from the record's metrics
        assert im.size[0] > 100
    assert (rec / "vae_config.json").read_text() == (vae_run / "config.json").read_text()
    vae_after = load_file(str(model / "vae.safetensors"))
    assert all(torch.equal(vae_after[k], vae_before[k]) for k in vae_before)
    assert json.loads((model / "config.json").read_text())["vae_train"] == vae_train


def test_a_model_directory_takes_a_decoder_finetune_of_its_own_vae(tmp_path, vae_run, capsys):
    """How a shipped model gets a better decoder: train vae --init-from MODEL --freeze-encoder (here with the objects
    weighted up, --fg-weight), then export MODEL --vae RUN -o MODEL. The DiT's weights and record stay byte for byte;
    the VAE is the fine-tune's (in the model's dtype); its record comes first and the model's earlier VAE record
    follows, renumbered. Another VAE is refused."""
    from safetensors.torch import load_file

    from kinema.train.recipes import run_weights

    dit, model = tmp_path / "dit", tmp_path / "model"
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(vae_run), "--steps", "1", "--out", str(dit),
                 *TINY]) == 0
    assert main(["export", str(dit), "-o", str(model)]) == 0
    before = {f.name: f.read_bytes() for f in [model / "dit.safetensors", *(model / "training").glob("dit_*")]}
    conf_before = json.loads((model / "config.json").read_text())
    dec = tmp_path / "dec"
    assert main(["train", "vae", "--init-from", str(model), "--freeze-encoder", "--steps", "2", "--lr", "1e-2",
                 "--fg-weight", "4", "--out", str(dec), *TINY]) == 0
    assert json.loads((dec / "config.json").read_text())["objective"]["fg_weight"] == 4
    assert main(["export", str(model), "--vae", str(dec), "-o", str(model)]) == 0
    assert {f.name: f.read_bytes() for f in [model / "dit.safetensors", *(model / "training").glob("dit_*")]} == before
    tuned, shipped = run_weights(dec), load_file(str(model / "vae.safetensors"))
    assert sorted(shipped) == sorted(tuned) and all(torch.equal(shipped[k], tuned[k].bfloat16()) for k in tuned)
    rec = model / "training"
    assert (rec / "vae_config.json").read_text() == (dec / "config.json").read_text()
    assert (rec / "vae_init1_config.json").read_text() == (vae_run / "config.json").read_text()
    conf = json.loads((model / "config.json").read_text())
    assert conf["vae_train"]["freeze_encoder"] is True and conf["vae_train"]["train"]["steps"] == 2
    assert {k: v for k, v in conf.items() if k != "vae_train"} == {k: v for k, v in conf_before.items()
                                                                   if k != "vae_train"}

    other = tmp_path / "other"  # a whole new VAE: its latents are not the ones the DiT learned
    assert main(["train", "vae", "--preset", "tiny", "--steps", "1", "--seed", "9", "--out", str(other), *TINY]) == 0
    capsys.readouterr()
    assert main(["export", str(model), "--vae", str(other), "-o", str(tmp_path / "m2")]) == 2
    assert "another VAE" in capsys.readouterr().err and not (tmp_path / "m2").exists()
    moved = tmp_path / "moved"  # warm-started from the model with the encoder trained too: same config, new latents
    assert main(["train", "vae", "--init-from", str(model), "--steps", "2", "--lr", "1e-2", "--out", str(moved),
                 *TINY]) == 0
    capsys.readouterr()
    assert main(["export", str(model), "--vae", str(moved), "-o", str(tmp_path / "m2")]) == 2
    assert "another encoder" in capsys.readouterr().err and not (tmp_path / "m2").exists()
    assert main(["export", str(model), "-o", str(tmp_path / "m3")]) == 2
    assert "give --vae" in capsys.readouterr().err
