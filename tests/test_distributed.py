"""A real 2-process torchrun (gloo on CPU) against a 1-process run of the same global batch: DDP and FSDP2, each also
stopped half-way and resumed by a new Trainer. Losses and final weights agree to float rounding."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kinema.train import read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the toy problem beside this file
import _train_toy as toy  # noqa: E402

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
MODES = ("ddp", "fsdp", "ddp-resume", "fsdp-resume")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)]), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(TESTS / "_train_toy.py"),
        "--out", str(root), "--modes", ",".join(MODES), "--grad-accum", "2", "--skew",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    toy.run(toy.toy_config(str(root / "single")))  # 1 process, no accumulation: the same 8 samples per step
    return root, reports


def test_torchrun_ran_two_gloo_processes(runs):
    root, reports = runs
    assert [(r["mode"], r["world_size"], r["backend"], r["step"]) for r in reports] == [
        (m, 2, "gloo", 6) for m in MODES
    ]
    trainer = json.loads((root / "ddp" / "ckpt-000006" / "trainer.json").read_text())
    assert trainer["world_size"] == 2 and len(trainer["rng"]["torch_cpu"]) == 2


@pytest.mark.parametrize("mode", MODES)
def test_two_processes_match_one(runs, mode):
    root, _ = runs
    one = read_metrics(root / "single" / "metrics.jsonl")
    two = read_metrics(root / mode / "metrics.jsonl")
    assert [r["step"] for r in two] == [1, 2, 3, 4, 5, 6]
    assert [r["lr"] for r in two] == [r["lr"] for r in one]
    for a, b in zip(one, two):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)
        assert b["abs_err"] == pytest.approx(a["abs_err"], abs=1e-5)
        assert b["samples_per_s"] > 0
    for name in ("model", "ema", "optimizer"):
        x = load_file(str(root / "single" / "ckpt-000006" / f"{name}.safetensors"))
        y = load_file(str(root / mode / "ckpt-000006" / f"{name}.safetensors"))
        assert x.keys() == y.keys()
        for k in x:
            torch.testing.assert_close(y[k], x[k], atol=1e-5, rtol=0, msg=f"{mode} {name} {k}")
    # the losses moved: a run that never trained would not match step by step
    assert one[-1]["loss"] != one[0]["loss"]
