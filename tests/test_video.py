"""kinema.video: mp4/webm/gif/png round trips, metadata, resampling, atomic writes, clear errors."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from kinema import video as kv
from kinema.video import contact_sheet, probe, read_metadata, read_video, write_png_sequence, write_video


def smooth_clip(frames: int, height: int, width: int) -> np.ndarray:
    """Soft colour gradients drifting over time: what a codec compresses well. (T, H, W, 3) uint8."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None] / max(height, 1)
    x = np.arange(width)[None, None, :] / max(width, 1)
    red = 128 + 90 * np.sin(2.0 * x + 0.3 * t + 0 * y)
    green = 128 + 90 * np.cos(2.5 * y - 0.2 * t + 0 * x)
    blue = 128 + 70 * np.sin(1.5 * (x + y) + 0.25 * t)
    return np.stack([red, green, blue], axis=-1).round().astype(np.uint8)


def counter_clip(frames: int, size: int = 16) -> np.ndarray:
    """Frame i is a flat grey of level 8 * i, so a decoded frame tells which source frame it is."""
    return np.repeat(np.arange(frames, dtype=np.uint8)[:, None, None, None] * 8, size * size * 3).reshape(
        frames, size, size, 3
    )


def frame_ids(video: np.ndarray) -> list[int]:
    return np.round(video[:, video.shape[1] // 2, video.shape[2] // 2, 0] / 8).astype(int).tolist()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# ----------------------------------------------------------------------------------------------------------------------
# mp4
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames, height, width", [(9, 64, 64), (9, 54, 96), (9, 96, 54), (9, 33, 65), (1, 64, 64), (1, 33, 65)]
)
def test_mp4_round_trip_keeps_size_frames_fps_and_pixels(tmp_path, frames, height, width):
    clip = smooth_clip(frames, height, width)
    path = write_video(tmp_path / "clip.mp4", clip, 10)
    decoded, fps = read_video(path)
    assert decoded.shape == (frames, height, width, 3)
    assert decoded.dtype == np.uint8
    assert fps == 10.0
    assert psnr(decoded, clip) > 35.0
    with av.open(str(path)) as container:  # what any FFmpeg-based tool sees
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.frames) == (width, height, frames)
        assert stream.average_rate == 10
        assert stream.codec_context.name == "h264"
        even = height % 2 == 0 and width % 2 == 0
        assert stream.codec_context.pix_fmt == ("yuv420p" if even else "yuv444p")
    assert probe(path) == dict(width=width, height=height, frames=frames, fps=10.0, codec="h264", duration=frames / 10)


@pytest.mark.parametrize(
    "fps, expected", [(24, Fraction(24)), (30, Fraction(30)), (30000 / 1001, Fraction(30000, 1001))]
)
def test_mp4_frame_rate_is_exact(tmp_path, fps, expected):
    path = write_video(tmp_path / "rate.mp4", counter_clip(7), fps)
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == expected
        times = [frame.time for frame in container.decode(video=0)]
    assert np.allclose(np.diff(times), float(1 / expected), atol=1e-4)
    assert probe(path)["frames"] == 7


def test_display_rotation_of_phone_videos_is_applied(tmp_path):
    path = tmp_path / "phone.mp4"
    image = np.zeros((32, 64, 3), np.uint8)
    image[:8, :8] = 255  # a white square in the top-left corner
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)  # shown turned a quarter counter-clockwise
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    decoded, _ = read_video(path)
    assert decoded.shape == (3, 64, 32, 3)
    bright = np.argwhere(decoded[0, :, :, 0] > 128)
    assert bright[:, 0].min() >= 56 and bright[:, 1].max() <= 7  # the corner turned to bottom-left
    assert (probe(path)["width"], probe(path)["height"]) == (32, 64)


# ----------------------------------------------------------------------------------------------------------------------
# Metadata, gif, png, webm
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif", ".png"])
def test_metadata_round_trip(tmp_path, suffix):
    meta = {"world": "physics/uniform", "seed": 3, "config": {"dim": 64, "lr": 1e-4}, "caption": "红色的球"}
    path = write_video(tmp_path / f"m{suffix}", counter_clip(5), 10, metadata=meta)
    assert read_metadata(path) == meta
    assert read_metadata(write_video(tmp_path / f"none{suffix}", counter_clip(5), 10)) == {}


def test_mp4_metadata_is_the_comment_tag(tmp_path):
    path = write_video(tmp_path / "m.mp4", counter_clip(2), 10, metadata={"seed": np.int64(7), "out": Path("a/b")})
    with av.open(str(path)) as container:
        assert json.loads(container.metadata["comment"]) == {"seed": 7, "out": "a/b"}


def test_gif_is_readable_by_pillow_loops_and_keeps_timing(tmp_path):
    clip = counter_clip(12)
    path = write_video(tmp_path / "clip.gif", clip, 24)
    with Image.open(path) as image:
        assert image.n_frames == 12 and image.size == (16, 16)
        assert image.info["loop"] == 0
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    assert set(durations) <= {40, 50} and sum(durations) == 500  # 1/100 s steps, total exact: 12 / 24 s
    decoded, fps = read_video(path)
    assert decoded.shape == (12, 16, 16, 3) and fps == 24.0
    assert frame_ids(decoded) == list(range(12))


def test_png_one_frame_is_exact_and_many_frames_are_an_animated_png(tmp_path):
    clip = smooth_clip(4, 20, 30)
    still = write_video(tmp_path / "still.png", clip[:1], 10)
    with Image.open(still) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), clip[0])
    decoded, fps = read_video(still)
    assert np.array_equal(decoded, clip[:1]) and fps == 0.0
    assert read_video(still, fps=10)[0].shape == (1, 20, 30, 3)

    animated = write_video(tmp_path / "anim.png", clip, 10)
    with Image.open(animated) as image:
        assert image.n_frames == 4
    decoded, fps = read_video(animated)
    assert np.array_equal(decoded, clip) and fps == 10.0  # lossless


def test_webm_round_trip(tmp_path):
    clip = smooth_clip(9, 54, 96)
    decoded, fps = read_video(write_video(tmp_path / "clip.webm", clip, 10, crf=20))
    assert decoded.shape == clip.shape and fps == 10.0
    assert psnr(decoded, clip) > 30.0


def test_jpeg_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "photo.jpg", exif=exif)
    decoded, _ = read_video(tmp_path / "photo.jpg")
    assert decoded.shape == (1, 40, 20, 3)
    assert (probe(tmp_path / "photo.jpg")["width"], probe(tmp_path / "photo.jpg")["height"]) == (20, 40)


# ----------------------------------------------------------------------------------------------------------------------
# Resampling in time
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif", ".png"])
def test_30fps_read_at_10fps_gives_every_third_frame(tmp_path, suffix):
    path = write_video(tmp_path / f"c{suffix}", counter_clip(30), 30)
    decoded, fps = read_video(path, fps=10)
    assert fps == 10.0 and frame_ids(decoded) == list(range(0, 30, 3))
    assert frame_ids(read_video(path, fps=10, max_frames=4)[0]) == [0, 3, 6, 9]
    assert frame_ids(read_video(path, max_frames=5)[0]) == [0, 1, 2, 3, 4]
    # up-sampling duplicates; a tie goes to the earlier frame
    assert frame_ids(read_video(path, fps=60, max_frames=6)[0]) == [0, 0, 1, 1, 2, 2]
    # 24 of 30: nearest frame to k / 24 s (k = 14 is an exact tie between frames 17 and 18: 17)
    expected = [min(range(30), key=lambda i: (abs(Fraction(i, 30) - Fraction(k, 24)), i)) for k in range(24)]
    assert frame_ids(read_video(path, fps=24)[0]) == expected


def test_resampled_frame_count_covers_the_clip_duration(tmp_path):
    path = write_video(tmp_path / "c.mp4", counter_clip(31), 30)  # 31/30 s: targets 0, 0.1, ..., 1.0
    assert frame_ids(read_video(path, fps=10)[0]) == list(range(0, 31, 3))


# ----------------------------------------------------------------------------------------------------------------------
# Atomic writes and errors
# ----------------------------------------------------------------------------------------------------------------------


def test_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "out.mp4"
    write_video(target, counter_clip(3), 10)
    before = target.read_bytes()

    def broken_writer(tmp, *args):
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(kv, "_write_pyav", broken_writer)
    with pytest.raises(KeyboardInterrupt):
        write_video(target, counter_clip(3), 10)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary file left behind


@pytest.mark.parametrize(
    "frames, fps, kwargs, name, message",
    [
        (np.zeros((2, 8, 8, 3), np.uint8), 10, {}, "a.avi", "suffix must be one of"),
        (np.zeros((0, 8, 8, 3), np.uint8), 10, {}, "a.mp4", "non-empty"),
        (np.zeros((2, 8, 8, 3), np.float32), 10, {}, "a.mp4", "uint8"),
        (np.zeros((2, 8, 8), np.uint8), 10, {}, "a.mp4", r"\(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), 10, {}, "a.mp4", r"\(T, H, W, 3\)"),
        (np.zeros((2, 8, 8, 3), np.uint8), 0, {}, "a.mp4", "fps must be > 0"),
        (np.zeros((2, 8, 8, 3), np.uint8), 10, {"crf": 60}, "a.mp4", r"\[0, 51\]"),
        (np.zeros((2, 8, 8, 3), np.uint8), 60, {}, "a.gif", "at most 50"),
        (np.zeros((2, 8, 8, 3), np.uint8), 10, {"metadata": {"x": object()}}, "a.mp4", "JSON"),
    ],
)
def test_write_rejects_bad_input_clearly(tmp_path, frames, fps, kwargs, name, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / name, frames, fps, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_read_rejects_bad_files_clearly(tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "a.xyz").write_bytes(b"x")
    for name, message in [("noise.mp4", "noise.mp4"), ("empty.mp4", "zero-length"), ("a.xyz", "suffix"),
                          ("missing.mp4", "no such file")]:
        with pytest.raises(ValueError, match=message):
            read_video(tmp_path / name)
        with pytest.raises(ValueError, match=message):
            probe(tmp_path / name)
    with pytest.raises(ValueError, match="max_frames"):
        read_video(tmp_path / "noise.mp4", max_frames=0)


# ----------------------------------------------------------------------------------------------------------------------
# Contact sheets and png sequences
# ----------------------------------------------------------------------------------------------------------------------


def test_contact_sheet_places_each_image_in_its_cell():
    tiles = [np.full((10, 12, 3), 40 * (i + 1), np.uint8) for i in range(5)]
    sheet = contact_sheet(tiles, cols=3, gap=2, background=128)
    assert sheet.shape == (2 * 10 + 3 * 2, 3 * 12 + 4 * 2, 3)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, 3)
        y, x = 2 + row * 12, 2 + col * 14
        assert np.array_equal(sheet[y : y + 10, x : x + 12], tile)
    assert np.all(sheet[14:24, 30:42] == 128)  # the sixth cell is empty
    labelled = contact_sheet(tiles, cols=5, labels=["a", "b", "c", "d", "e"])
    assert labelled.shape[0] > 10 + 4 and labelled.shape[1] == 5 * 12 + 6 * 2
    assert np.any(labelled[12:, 2:14] < 100)  # some dark text under the first cell
    with pytest.raises(ValueError, match="one entry per image"):
        contact_sheet(tiles, cols=2, labels=["a"])
    with pytest.raises(ValueError, match="cols"):
        contact_sheet(tiles, cols=0)


def test_png_sequence(tmp_path):
    clip = smooth_clip(3, 8, 8)
    paths = write_png_sequence(tmp_path / "seq", clip)
    assert [p.name for p in paths] == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    assert all(np.array_equal(read_video(p)[0][0], clip[i]) for i, p in enumerate(paths))
