"""The scale study runs a real grid of training runs, resumes cell by cell, and reports every cell."""

import json

import pytest

from kinema.cli import main
from kinema.eval.scale import SIZES, ScaleConfig, cell_name

TINY = ["--size", "16x16", "--frames", "5", "--batch-size", "2", "-n", "2", "--eval-steps", "2", "--steps", "2"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "vae", "--preset", "tiny", "--steps", "1", "--out", str(run), "--size", "16x16",
                 "--frames", "5", "--batch-size", "2"]) == 0
    return run


def test_grid_trains_evaluates_and_resumes(tmp_path, vae_run, capsys):
    runs, out = tmp_path / "runs", tmp_path / "out"
    args = ["eval", "scale", "--sizes", "32,64", "--videos", "2,4", "--vae", str(vae_run), "--runs", str(runs),
            "--out", str(out), "--json", *TINY]
    assert main(args) == 0
    study = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cells = {(c["size"], c["videos"]): c for c in study["cells"]}
    assert set(cells) == {(32, 2), (32, 4), (64, 2), (64, 4)}
    assert cells[(64, 2)]["params"] > cells[(32, 2)]["params"] == cells[(32, 4)]["params"]
    assert cells[(32, 4)]["epochs"] == 1.0 and cells[(32, 2)]["epochs"] == 2.0  # 2 steps x batch 2 over the pool
    for c in cells.values():  # an untrained 16x16 model may lose the ball (n/a); the floors are always there
        assert 0 < c["id"]["gt"] < 1 and all(c[sp]["model"] is None or c[sp]["model"] > 0 for sp in ("id", "ood"))
    conf = json.loads((runs / cell_name(64, 4) / "config.json").read_text())
    assert conf["data"]["num_videos"] == 4 and conf["data"]["source"] == "physics/uniform"
    assert conf["flow"]["mode_probs"] == [0.0, 0.0, 1.0, 0.0, 0.0] and conf["model"]["dim"] == 64
    for name in ("report.md", "results.json", "scale.png"):
        assert (out / name).is_file()
    assert "kinema eval scale --sizes 32,64 --videos 2,4" in (out / "report.md").read_text()

    # a second run redoes nothing: same checkpoints, the cached evaluation
    stamp = {p: p.stat().st_mtime_ns for p in runs.rglob("trainer.json")}
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("trainer.json")} == stamp
    assert [c["id"] for c in again["cells"]] == [c["id"] for c in study["cells"]]

    # more steps on the same runs: each cell continues from its checkpoint and is evaluated anew
    longer = [a if a != "2" or args[i - 1] != "--steps" else "3" for i, a in enumerate(args)]
    longer[longer.index("--sizes") + 1], longer[longer.index("--videos") + 1] = "32", "2"
    assert main(longer) == 0
    assert (runs / cell_name(32, 2) / "ckpt-000003").is_dir()
    assert "train_steps" in (runs / cell_name(32, 2) / "scale_eval.json").read_text()


def test_bad_study_arguments():
    with pytest.raises(ValueError, match="widths"):
        ScaleConfig(sizes=(48,))
    with pytest.raises(ValueError, match="scenario"):
        ScaleConfig(scenario="orbit")
    with pytest.raises(ValueError, match="pool"):
        ScaleConfig(videos=(0,))
    assert 256 in SIZES and SIZES[256].dim == 256
