"""The `kinema` command line: worlds render/preview/list and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kinema.cli import main
from kinema.video import probe, read_video


@pytest.mark.parametrize("name,size,frames", [("physics/collision", (64, 64), 12), ("scenes", (96, 54), 9),
                                               ("explore/gallery", (54, 96), 5)])
def test_render_writes_mp4_pyav_decodes(tmp_path, name, size, frames):
    out, state = tmp_path / "clip.mp4", tmp_path / "state.json"
    rc = main(["worlds", "render", name, "-o", str(out), "--frames", str(frames), "--size", f"{size[0]}x{size[1]}",
               "--seed", "2", "--state", str(state)])
    assert rc == 0
    info = probe(out)
    assert (info["width"], info["height"], info["frames"]) == (size[0], size[1], frames)
    assert info["codec"] == "h264"
    video, fps = read_video(out)
    assert video.shape == (frames, size[1], size[0], 3) and fps == pytest.approx(10.0)
    doc = json.loads(state.read_text(encoding="utf-8"))
    assert len(doc["state"]["frames"]) == frames
    assert doc["caption"]["en"]["detailed"] and doc["caption"]["zh"]["detailed"]


def test_explore_actions_flag(tmp_path):
    out = tmp_path / "walk.mp4"
    assert main(["worlds", "render", "explore/garden", "-o", str(out), "--frames", "4", "--actions", "W A D"]) == 0
    assert probe(out)["frames"] == 4


def test_preview_contact_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["worlds", "preview", "physics", "-o", str(out), "-n", "2", "--frames", "3"]) == 0
    sheet, _ = read_video(out)
    assert sheet.shape[0] == 1 and sheet.shape[1] > 2 * 64 and sheet.shape[2] > 3 * 64
    assert np.any(sheet != sheet[0, 0, 0])


@pytest.mark.parametrize("argv,needle", [
    (["worlds", "render", "physics/zzz", "-o", "x.mp4"], "unknown scenario"),
    (["worlds", "render", "nowhere", "-o", "x.mp4"], "unknown world"),
    (["worlds", "render", "physics", "-o", "x.mp4", "--frames", "0"], "frames"),
    (["worlds", "render", "physics", "-o", "x.xyz"], "x.xyz"),
    (["worlds", "render", "physics", "-o", "x.mp4", "--actions", "W"], "explore"),
    (["play", "train", "--vae", "v", "--out", "r", "--lr-mult", "pos_embed"], "--lr-mult takes NAME=K"),
    (["play", "train", "--vae", "v", "--out", "r", "--lr-mult", "pos_embed=ten"], "'pos_embed=ten'"),
    (["play", "train", "--vae", "v", "--out", "r", "--key-weight", "S"], "--key-weight takes KEY=W"),
    (["play", "train", "--vae", "v", "--out", "r", "--key-weight", "Z=2"], "key_weights takes keys"),
])
def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kinema: error:") and needle in err and "\n" not in err


def test_help_runs_as_a_process():
    out = subprocess.run([sys.executable, "-m", "kinema", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "worlds" in out.stdout
    out = subprocess.run([sys.executable, "-m", "kinema", "worlds", "list"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "physics" in out.stdout and "collision" in out.stdout


def test_eval_defaults_match_the_harness():
    """cli/eval.py repeats the harness's default N so that `kinema --help` imports no torch."""
    from kinema.cli import build_parser
    from kinema.eval import physics, scenes

    p = build_parser()
    assert p.parse_args(["eval", "physics"]).n == physics.DEFAULT_N
    assert p.parse_args(["eval", "scenes"]).n == scenes.DEFAULT_N


def test_spelled_out_records_every_option_to_reproduce_a_result():
    from kinema.cli import build_parser, spelled_out

    args = build_parser().parse_args(["eval", "fvd", "--model", "my runs/x", "--size", "96x64", "--json"])
    line = spelled_out(["kinema", "eval", "fvd"], args, steps=8)
    # parsed order; a resolved value replaces the parsed one; one-letter flags; WxH; quoting; --json last; no None
    assert line == ("kinema eval fvd --model 'my runs/x' -n 48 --frames 32 --size 96x64 --seed 0 --steps 8 "
                    "--guidance 3.0 --json")
    import shlex

    again = build_parser().parse_args(shlex.split(line)[1:])  # the line parses back to the same options
    assert vars(again) == {**vars(args), "steps": 8}
    bench = build_parser().parse_args(["bench", "train", "--peer", "--variants", "baseline,compile"])
    from kinema.cli.bench import command_line

    assert command_line(bench).startswith("kinema bench train --peer ") and "--variants baseline,compile" in (
        command_line(bench)) and "--json" not in command_line(bench)
