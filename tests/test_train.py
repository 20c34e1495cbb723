"""The generic trainer on a tiny real problem (tests/_train_toy.py): learning, exact resume, atomic checkpoints, bf16,
logging and export. fp32 wherever equality is asserted."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from kinema.train import (
    IndexedData,
    TrainConfig,
    Trainer,
    derive_seed,
    export_model,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    lr_at,
    read_metrics,
)
from kinema.train.checkpoint import flatten_optimizer, unflatten_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the toy problem beside this file
import _train_toy as toy  # noqa: E402

torch.set_num_threads(1)


LAST = "ckpt-000006"


def weights(ckpt: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt / f"{name}.safetensors"))


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------------------------------------------------
# Config, schedule, data contract
# ----------------------------------------------------------------------------------------------------------------------


def test_config_json_roundtrip_and_errors():
    cfg = TrainConfig(steps=10, betas=(0.8, 0.9), precision="fp32")
    back = TrainConfig.from_json(cfg.to_json())
    assert back == cfg and back.betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"stepz": 3})


def test_lr_schedule_warmup_peak_and_floor():
    cfg = TrainConfig(steps=10, lr=1.0, warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_at(cfg, s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0 * 1.0] and lr_at(cfg, 3) == 1.0
    assert lr_at(cfg, 4) == 1.0  # the first post-warmup step is the peak
    assert lr_at(cfg, 9) == pytest.approx(0.1, abs=1e-12)  # the last step sits on the floor
    lrs = [lr_at(cfg, s) for s in range(4, 10)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_indexed_data_shards_tile_the_global_batch():
    data = toy.ToyData(batch_size=8, seed=3)
    whole = data.batch(5, 0, 1)
    assert whole["index"].tolist() == list(range(40, 48))
    assert whole["seed"].tolist() == [derive_seed(3, i) for i in range(40, 48)]
    for world in (2, 4, 8):
        parts = [data.batch(5, r, world) for r in range(world)]
        for key in ("x", "y", "label", "seed"):
            assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])
    with pytest.raises(ValueError, match="equal shards"):
        data.batch(0, 0, 3)
    with pytest.raises(NotImplementedError):
        IndexedData(2).batch(0, 0, 1)


def test_trainer_rejects_indivisible_batch(tmp_path):
    cfg = toy.toy_config(str(tmp_path / "r"), batch_size=6, grad_accum=4)
    with pytest.raises(ValueError, match="divisible"):
        Trainer(toy.build_model(), toy.objective, toy.ToyData(6), cfg, run_config={})


# ----------------------------------------------------------------------------------------------------------------------
# 1. It learns
# ----------------------------------------------------------------------------------------------------------------------


def test_overfits_small_problem(tmp_path):
    cfg = toy.toy_config(str(tmp_path / "run"), steps=150, batch_size=16, warmup_steps=10, ckpt_every=0, log_every=10)
    toy.run(cfg)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(10, 151, 10))
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert last < 0.15 and last < first / 5, (first, last)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Exact resume
# ----------------------------------------------------------------------------------------------------------------------


def resume_cfg(path: Path) -> TrainConfig:
    return toy.toy_config(str(path), steps=6, grad_accum=2, ema_decay=0.9, warmup_steps=2, ckpt_every=3, keep_last=0)


def test_resume_is_exact(tmp_path):
    toy.run(resume_cfg(tmp_path / "a"))
    toy.run(resume_cfg(tmp_path / "b"), stop_at=3)
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["ckpt-000003"]
    toy.run(resume_cfg(tmp_path / "b"), model_seed=99, resume=True)  # different init: everything comes from disk

    a = read_metrics(tmp_path / "a" / "metrics.jsonl")
    b = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    keys = ("step", "loss", "lr", "grad_norm", "abs_err")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    lrs = [r["lr"] for r in a]  # warmup (steps 1-2), the peak again at step 3, then cosine down to lr * 0.1
    assert lrs[0] < lrs[1] == lrs[2] > lrs[3] > lrs[4] > lrs[5] == pytest.approx(3e-3)
    for name in ("model", "ema", "optimizer"):
        assert_same_tensors(weights(tmp_path / "a" / "ckpt-000006", name), weights(tmp_path / "b" / LAST, name))
    # EMA is a real average: it differs from the weights
    ema, model = weights(tmp_path / "a" / "ckpt-000006", "ema"), weights(tmp_path / "a" / "ckpt-000006", "model")
    assert not torch.equal(ema["blocks.0.weight"], model["blocks.0.weight"])


def test_adamw_is_fused_and_a_resume_keeps_the_checkpoints_choice(tmp_path):
    """AdamW runs fused (the CPU build has the kernel); a run whose checkpoints were written with the foreach AdamW
    (kinema before fused) resumes with it, so it goes on exactly as if it had never stopped."""

    def trainer(path: Path, resume: bool = False, foreach: bool = False) -> Trainer:
        cfg = resume_cfg(path)
        t = Trainer(toy.build_model(0), toy.objective, toy.ToyData(cfg.batch_size, seed=3), cfg,
                    run_config={"model": {"name": "toy", "hidden": 32}, "data": {"name": "toy", "seed": 3}},
                    resume=resume)
        if foreach:
            for g in t.optimizer.param_groups:
                g["fused"] = None
        return t

    assert all(g["fused"] for g in trainer(tmp_path / "new").optimizer.param_groups)
    trainer(tmp_path / "straight", foreach=True).fit()
    trainer(tmp_path / "old", foreach=True).fit(stop_at=3)
    resumed = trainer(tmp_path / "old", resume=True)
    assert all(g["fused"] is None for g in resumed.optimizer.param_groups)
    resumed.fit()
    losses = [[r["loss"] for r in read_metrics(tmp_path / d / "metrics.jsonl")] for d in ("straight", "old")]
    assert len(losses[0]) == 6 and losses[0] == losses[1]


def test_lr_mult_trains_named_parameters_faster_and_resumes_exactly(tmp_path):
    """TrainConfig.lr_mult: parameters whose names start with a prefix get factor x the learning rate in their own
    groups (decay or not kept); the factors survive a resume; a prefix that names nothing, or a bad factor, is
    refused."""
    from kinema.train.schedule import param_groups

    net = toy.build_model(0)
    plain = param_groups(net, 0.01)
    assert [(len(g["params"]), g["weight_decay"], g["lr_mult"]) for g in plain] == [(2, 0.01, 1.0), (5, 0.0, 1.0)]
    groups = param_groups(net, 0.01, {"blocks.1.": 10.0})
    assert [(len(g["params"]), g["weight_decay"], g["lr_mult"]) for g in groups] == [
        (1, 0.01, 1.0), (1, 0.01, 10.0), (4, 0.0, 1.0), (1, 0.0, 10.0)]
    assert groups[1]["params"][0] is net.blocks[1].weight and groups[3]["params"][0] is net.blocks[1].bias
    tail = param_groups(net, 0.01, {"1.": 10.0})  # a name's tail after a dot matches too
    assert [[id(p) for p in g["params"]] for g in tail] == [[id(p) for p in g["params"]] for g in groups]

    def cfg(path):
        return toy.toy_config(str(path), steps=4, warmup_steps=1, ckpt_every=2, keep_last=0, lr_mult={"blocks.1": 10})

    full = toy.run(cfg(tmp_path / "a"))
    lrs = {g["lr_mult"]: g["lr"] for g in full.optimizer.param_groups}
    assert lrs[10.0] == pytest.approx(10 * lrs[1.0])
    toy.run(cfg(tmp_path / "b"), stop_at=2)
    toy.run(cfg(tmp_path / "b"), model_seed=99, resume=True)
    assert_same_tensors(weights(tmp_path / "a" / "ckpt-000004", "model"),
                        weights(tmp_path / "b" / "ckpt-000004", "model"))
    with pytest.raises(ValueError, match="names no parameter"):
        toy.run(toy.toy_config(str(tmp_path / "c"), lr_mult={"pos_embed": 10}))
    with pytest.raises(ValueError, match="factors > 0"):
        toy.toy_config(str(tmp_path / "d"), lr_mult={"blocks": 0})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_checkpoints_then_resume_is_exact(tmp_path, signum):
    toy.run(resume_cfg(tmp_path / "a"))

    def objective_killed_at_step_5(model, batch, generator):
        if batch["index"][0].item() == 4 * 8:  # first micro-batch of the 5th step (0-based step 4)
            os.kill(os.getpid(), signum)
        return toy.objective(model, batch, generator)

    cfg = resume_cfg(tmp_path / "b")
    before = signal.getsignal(signum)
    trainer = Trainer(toy.build_model(), objective_killed_at_step_5, toy.ToyData(8, seed=3), cfg, run_config={})
    with pytest.raises(SystemExit if signum == signal.SIGTERM else KeyboardInterrupt) as stop:
        trainer.fit()
    if signum == signal.SIGTERM:
        assert stop.value.code == 143
    assert latest_checkpoint(tmp_path / "b").name == "ckpt-000005"  # the step in flight finished, then saved
    assert signal.getsignal(signum) is before  # handlers restored
    toy.run(cfg, model_seed=5, resume=True)
    for name in ("model", "ema", "optimizer"):
        assert_same_tensors(weights(tmp_path / "a" / "ckpt-000006", name), weights(tmp_path / "b" / LAST, name))


# ----------------------------------------------------------------------------------------------------------------------
# 3. Checkpoint files
# ----------------------------------------------------------------------------------------------------------------------


def test_checkpoint_atomicity_and_pruning(tmp_path):
    run_dir = tmp_path / "run"
    toy.run(toy.toy_config(str(run_dir), steps=6, ckpt_every=2, keep_last=2))
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt-000004", "ckpt-000006"]

    stray = run_dir / "ckpt-000999.tmp"  # a crash mid-write: complete-looking files, never renamed
    stray.mkdir()
    (stray / "trainer.json").write_text(json.dumps({"step": 999}))
    (run_dir / "ckpt-000998").mkdir()  # a directory with no trainer.json is not a checkpoint either
    assert latest_checkpoint(run_dir).name == "ckpt-000006"

    with pytest.raises(ValueError, match="resume=True"):
        Trainer(toy.build_model(), toy.objective, toy.ToyData(8, seed=3), toy.toy_config(str(run_dir)), run_config={})
    cfg = toy.toy_config(str(run_dir), steps=8, ckpt_every=2, keep_last=2)
    toy.run(cfg, resume=True)
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt-000006", "ckpt-000008"]
    assert not stray.exists()  # the next save cleans up leftovers

    ck = load_checkpoint(run_dir / "ckpt-000008")
    assert ck.step == 8 and ck.config["train"]["steps"] == 8 and ck.config["model"]["name"] == "toy"
    assert json.loads((run_dir / "config.json").read_text()) == ck.config
    assert len(ck.trainer["rng"]["torch_cpu"]) == 1 and ck.trainer["world_size"] == 1
    assert not any(p.suffix in (".pt", ".pth", ".pkl", ".bin") for p in run_dir.rglob("*"))


def test_optimizer_flatten_roundtrip():
    model = toy.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.9))
    model(torch.randn(3, toy.DIM), torch.tensor([0, 1, 2])).sum().backward()
    opt.step()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    osd = get_optimizer_state_dict(model, opt)
    tensors, meta = flatten_optimizer(osd)
    assert "state.blocks.0.weight.exp_avg" in tensors and "state.embed.weight.step" in tensors
    json.dumps(meta)
    back = unflatten_optimizer(tensors, json.loads(json.dumps(meta)))
    assert back["param_groups"] == osd["param_groups"]
    for p, st in osd["state"].items():
        for k, v in st.items():
            assert torch.equal(back["state"][p][k], v)


# ----------------------------------------------------------------------------------------------------------------------
# 5. bf16, logs, loss curve, samples, export
# ----------------------------------------------------------------------------------------------------------------------


def test_bf16_logs_samples_and_export(tmp_path):
    run_dir = tmp_path / "run"
    calls = []

    def sample_fn(model, step, out_dir):
        calls.append((step, model.training, {k: v.clone() for k, v in model.state_dict().items()}))
        (out_dir / f"step{step}.txt").write_text("ok")

    cfg = toy.toy_config(str(run_dir), steps=40, batch_size=16, precision="bf16", ckpt_every=20, log_every=5,
                         sample_every=20, warmup_steps=5)
    trainer = toy.run(cfg, sample_fn=sample_fn)
    rows = read_metrics(run_dir / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"] / 2 and all(math.isfinite(r["loss"]) for r in rows)
    for key in ("step", "loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "wall_s", "time", "abs_err"):
        assert key in rows[-1]
    assert rows[-1]["samples_per_s"] > 0 and rows[-1]["tokens_per_s"] > 0
    with Image.open(run_dir / "loss.png") as im:
        assert im.size[0] > 100 and im.size[1] > 100

    # sample_fn: rank 0, eval mode, a separate module holding the EMA weights
    assert [(s, training) for s, training, _ in calls] == [(20, False), (40, False)]
    assert (run_dir / "samples" / "step40.txt").is_file() and trainer.module.training
    assert_same_tensors(calls[-1][2], weights(run_dir / "ckpt-000040", "ema"))

    path = export_model(run_dir, tmp_path / "export")
    shipped = load_file(str(path))
    ema = weights(run_dir / "ckpt-000040", "ema")
    assert shipped.keys() == ema.keys() == trainer.module.state_dict().keys()
    assert all(v.dtype == torch.bfloat16 for v in shipped.values())
    assert all(torch.equal(shipped[k], ema[k].to(torch.bfloat16)) for k in ema)
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["export"] == {"source": "ckpt-000040", "step": 40, "which": "ema", "dtype": "bfloat16"}
    assert config["train"]["precision"] == "bf16"
    model = toy.build_model()
    model.load_state_dict({k: v.float() for k, v in shipped.items()})


def test_export_without_ema_needs_which_model(tmp_path):
    run_dir = tmp_path / "run"
    toy.run(toy.toy_config(str(run_dir), steps=2, ema_decay=0.0, ckpt_every=0))
    assert not (run_dir / "ckpt-000002" / "ema.safetensors").exists()
    with pytest.raises(ValueError, match="which='model'"):
        export_model(run_dir, tmp_path / "out")
    sd = load_file(str(export_model(run_dir / "ckpt-000002", tmp_path / "out", which="model", dtype=torch.float32)))
    assert_same_tensors(sd, weights(run_dir / "ckpt-000002", "model"))


def test_command_txt_names_the_program_not_its_path_on_this_machine():
    from kinema.train.trainer import command_line

    assert command_line(["/home/me/repo/.venv/bin/kinema", "train", "vae", "--out", "runs/a b"]) == \
        "kinema train vae --out 'runs/a b'"
    assert command_line(["/home/me/repo/src/kinema/__main__.py", "train", "dit"]) == "python -m kinema train dit"
