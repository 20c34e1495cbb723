"""Every capability of kinema.Pipeline and its CLI command, on a tiny DiT run (random-ish weights, exact oracles).

Oracles: given frames come out exactly as they went in (image-to-video, extension both ways, connection, the loop's
seam); chained generation equals the single pass it starts with; the same seed gives the same video; SDEdit at a tiny
strength returns the VAE's reconstruction; requests outside the trained range get one line naming it.
"""

import copy
import json

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.video import probe, read_metadata, read_video, write_video

TINY = ["--size", "16x16", "--size", "24x16", "--frames", "5", "--frames", "9", "--batch-size", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pipe")
    assert main(["train", "vae", "--preset", "tiny", "--steps", "2", "--out", str(root / "vae"), *TINY]) == 0
    assert main(["train", "dit", "--preset", "tiny", "--vae", str(root / "vae"), "--steps", "2", "--out",
                 str(root / "dit"), *TINY]) == 0
    return root / "dit"


@pytest.fixture(scope="module")
def pipe(run):
    from kinema.pipeline import Pipeline

    return Pipeline.from_pretrained(run)


def clip(frames=9, w=16, h=16, seed=0):
    from kinema.worlds import render

    return render("physics/uniform", seed=seed, frames=frames, width=w, height=h).video


FAST = dict(steps=2, guidance=2.0)


def test_trained_range_and_window(pipe):
    assert pipe.window == 9 and pipe.time_factor == 4
    assert pipe.trained_range() == {"width": (16, 24), "height": (16, 16)}
    with pytest.raises(ValueError, match=r"outside this model's trained range: width 16\.\.24, height 16\.\.16"):
        pipe.generate("x", frames=5, size=(32, 16))
    with pytest.raises(ValueError, match="multiple of"):
        pipe.generate("x", frames=5, size=(20, 16))


def test_generate_is_seeded_and_chains_past_the_window(pipe):
    a = pipe.generate("a red ball moves right", frames=9, **FAST, seed=3)
    b = pipe.generate("a red ball moves right", frames=9, **FAST, seed=3)
    assert a.video.shape == (9, 16, 16, 3) and np.array_equal(a.video, b.video)
    long = pipe.generate("a red ball moves right", frames=20, **FAST, seed=3)
    assert long.video.shape == (20, 16, 16, 3)
    assert np.array_equal(long.video[:9], a.video)  # the chain starts with the single pass
    image = pipe.generate("a red ball", frames=1, size=(24, 16), **FAST)
    assert image.video.shape == (1, 16, 24, 3)
    odd = pipe.generate("x", frames=7, **FAST)  # any count: made at the next valid one (9) and cut
    assert odd.video.shape[0] == 7


def test_loop_ends_where_it_starts(pipe):
    out = pipe.generate("a ball", frames=9, loop=True, **FAST)
    extra = out.metadata["loop_transition_frames"]
    assert out.video.shape[0] == 9 + extra == out.metadata["frames_out"] and extra >= 4
    plain = pipe.generate("a ball", frames=9, **FAST)
    assert np.array_equal(out.video[:9], plain.video)  # the clip itself is unchanged, the transition follows it


def test_animate_keeps_the_image(pipe):
    img = clip(1, 24, 16)[0]
    out = pipe.animate(img, prompt="the ball moves", frames=9, **FAST)
    assert out.video.shape == (9, 16, 24, 3) and np.array_equal(out.video[0], img)
    assert out.metadata["task"] == "animate"
    long = pipe.animate(img, prompt="the ball moves", frames=20, **FAST)  # chained past the window
    assert long.video.shape == (20, 16, 24, 3) and np.array_equal(long.video[:9], out.video)


def test_extend_forward_and_backward_keep_their_context(pipe):
    v = clip(9)
    fwd = pipe.extend(v, context_frames=3, frames=9, **FAST)
    assert fwd.video.shape == (9, 16, 16, 3) and np.array_equal(fwd.video[:3], v[:3])
    long = pipe.extend(v, context_frames=3, frames=25, **FAST)  # chained: 3 kept, then windows of 9
    assert long.video.shape[0] == 25 and np.array_equal(long.video[:3], v[:3])
    assert np.array_equal(long.video[:9], fwd.video)
    back = pipe.extend(v, context_frames=5, frames=9, backward=True, **FAST)
    assert back.video.shape == (9, 16, 16, 3) and np.array_equal(back.video[-5:], v[-5:])
    with pytest.raises(ValueError, match="larger than context_frames"):
        pipe.extend(v, context_frames=3, frames=3)
    with pytest.raises(ValueError, match="context_frames must be in 1..9"):
        pipe.extend(v, context_frames=12)


def test_history_guidance_drops_the_context_from_the_unconditional_branch(pipe):
    """history_free_velocity: unguided calls pass through; in a guided call the unconditional rows' context frames
    become the context noised to the generated frames' time, at that time; Pipeline.extend(history_guidance=True)
    keeps its context exactly, changes the guided result and records the switch; at guidance 1 it changes nothing."""
    from kinema.pipeline import history_free_velocity

    ctx, noise = torch.randn(1, 2, 3, 2, 2), torch.randn(1, 2, 3, 2, 2)
    mask = torch.tensor([[1.0, 0.0, 0.0]])
    seen = []
    vel = history_free_velocity(lambda x, t, c: (seen.append((x, t)), x)[1], ctx, mask, noise)
    x1, t1 = torch.randn(1, 2, 3, 2, 2), torch.tensor([[0.0, 0.7, 0.7]])
    assert vel(x1, t1, None) is x1 and seen[-1][1] is t1
    x2 = torch.cat([ctx, ctx]) + torch.tensor([0.0, 0.0, 1.0]).view(1, 1, 3, 1, 1)  # context pinned, noisy frames
    vel(x2, torch.cat([t1, t1]), None)
    x, t = seen[-1]
    torch.testing.assert_close(x[0], x2[0])
    torch.testing.assert_close(t, torch.tensor([[0.0, 0.7, 0.7], [0.7, 0.7, 0.7]]))
    torch.testing.assert_close(x[1, :, 0], 0.3 * ctx[0, :, 0] + 0.7 * noise[0, :, 0])
    torch.testing.assert_close(x[1, :, 1:], x2[1, :, 1:])

    rnd = copy.copy(pipe)  # the run's DiT after 2 steps barely moves: this one's random weights all matter
    rnd.dit = copy.deepcopy(pipe.dit)
    g = torch.Generator().manual_seed(0)
    for p in rnd.dit.parameters():
        p.data = 0.2 * torch.randn(p.shape, generator=g)
    v = clip(9)
    plain = rnd.extend(v, context_frames=5, frames=9, **FAST)
    hist = rnd.extend(v, context_frames=5, frames=9, history_guidance=True, **FAST)
    assert np.array_equal(hist.video[:5], v[:5]) and not np.array_equal(hist.video, plain.video)
    assert hist.metadata["history_guidance"] and not plain.metadata["history_guidance"]
    one = dict(FAST, guidance=1.0)
    assert np.array_equal(rnd.extend(v, context_frames=5, frames=9, history_guidance=True, **one).video,
                          rnd.extend(v, context_frames=5, frames=9, **one).video)


def test_connect_keeps_both_ends(pipe):
    a, b = clip(5, seed=1), clip(5, seed=2)
    out = pipe.connect(a, b, frames=9, **FAST)
    seg = out.metadata["segments"]
    assert np.array_equal(out.video[:5], a) and np.array_equal(out.video[-5:], b)
    assert seg["a"] == [0, 5] and seg["b"][1] == len(out.video) == 5 + (9 - 1 - 4) + 5
    with pytest.raises(ValueError, match="same size"):
        pipe.connect(a, clip(5, 24, 16))


def test_edit_at_small_strength_is_the_reconstruction(pipe):
    from kinema.eval.recon import reconstruct

    v = clip(9)
    out = pipe.edit(v, prompt="a blue ball", strength=1e-4, **FAST)
    assert out.video.shape == v.shape
    assert np.abs(out.video.astype(int) - reconstruct(pipe.vae, v).astype(int)).max() <= 2
    changed = pipe.edit(v, prompt="a blue ball", strength=1.0, **FAST)
    assert not np.array_equal(changed.video, out.video)
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        pipe.edit(v, prompt="x", strength=0)


def test_bf16_decode_is_within_2_of_fp32_and_follows_the_bf16_switch(pipe):
    z = pipe.encode(clip(9, 24, 16))  # (1, C, 3, 4, 6)
    z = z + 0.5 * torch.randn(z.shape, generator=torch.Generator().manual_seed(0))  # a clip's latent, shaken
    fp32, bf16 = pipe.decode(z), pipe.decode(z, bf16=True)
    assert fp32.shape == bf16.shape == (9, 16, 24, 3) and fp32.dtype == bf16.dtype == np.uint8
    assert np.abs(fp32.astype(int) - bf16.astype(int)).max() <= 2
    assert not np.array_equal(fp32, bf16)  # bf16 did run (else the check above cannot fail)
    seen = []  # the generating methods decode with their own bf16 switch
    decode = pipe.decode
    pipe.decode = lambda z, **kw: seen.append(kw.get("bf16")) or decode(z, **kw)
    try:
        pipe.generate("x", frames=5, **FAST)
        pipe.generate("x", frames=5, bf16=False, **FAST)
        pipe.edit(clip(5), prompt="x", strength=0.5, bf16=False, **FAST)
    finally:
        del pipe.decode
    assert seen == [True, False, False]


def test_every_command_writes_a_playable_file_with_provenance(run, tmp_path):
    src = tmp_path / "src.mp4"
    write_video(src, clip(9), 10.0)
    img = tmp_path / "img.png"
    write_video(img, clip(1), 10.0)
    m = ["--model", str(run), "--steps", "2", "--seed", "4"]
    cmds = {
        "gen.mp4": ["generate", "两个球相撞", "--frames", "9", "--loop"],
        "anim.mp4": ["animate", str(img), "--frames", "9"],
        "ext.mp4": ["extend", str(src), "--frames", "13", "--history-guidance"],
        "back.mp4": ["extend", str(src), "--backward", "--context-frames", "4"],
        "conn.mp4": ["connect", str(src), str(src)],
        "edit.mp4": ["edit", str(src), "--prompt", "a green ball", "--strength", "0.5"],
    }
    for name, cmd in cmds.items():
        out = tmp_path / name
        assert main([*cmd, *m, "-o", str(out)]) == 0, name
        info = probe(out)
        assert info["codec"] == "h264" and info["frames"] >= 9, name
        side = json.loads(out.with_suffix(".json").read_text())
        assert side["seed"] == 4 and side["steps"] == 2 and side["model_version"].startswith("run checkpoint")
        assert read_metadata(out)["task"] == side["task"]
    assert probe(tmp_path / "ext.mp4")["frames"] == 13
    assert json.loads((tmp_path / "ext.json").read_text())["history_guidance"]
    assert np.array_equal(read_video(tmp_path / "anim.mp4")[0].shape, (9, 16, 16, 3))


def test_commands_fail_in_one_line(run, tmp_path, capsys):
    assert main(["extend", str(tmp_path / "missing.mp4"), "--model", str(run), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert main(["generate", "x", "--model", str(run), "--size", "64x64", "-o", str(tmp_path / "x.mp4")]) == 2
    assert "trained range" in capsys.readouterr().err
