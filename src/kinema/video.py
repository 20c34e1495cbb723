"""Video files in and out: H.264 mp4 (and VP9 webm) through PyAV, GIF and PNG through Pillow.

Frames at this edge are numpy uint8 (T, H, W, 3), RGB. Every writer takes a ``metadata`` dict and stores it as JSON in
the file itself (mp4/webm: the container's "comment" tag, which ``ffprobe`` and PyAV show; gif: the comment extension;
png: an iTXt chunk named "comment"), so each kinema output carries its own provenance. ``read_metadata`` gives it back.
Writes are atomic: the file is written under a hidden temporary name in the same folder, then renamed into place, so
an interrupted write never leaves a half file behind.

What each format does, decided once:
- ``.mp4``: H.264 (libx264, constant quality ``crf``), the frame rate stored as an exact fraction (10, 24, 30 and
  30000/1001 fps stay exact), every frame kept. Even sizes are encoded as yuv420p, which every player opens. Odd sizes
  cannot be 4:2:0 (the chroma planes are half size), so they are encoded as yuv444p (H.264 High 4:4:4): the exact
  size is kept, and FFmpeg, PyAV, VLC and mpv open it, but browsers and QuickTime do not. Share even sizes.
  Colour: BT.601 limited range, and tagged so, which is what the RGB<->YUV conversion uses both ways.
- ``.webm``: VP9 (libvpx), the same pixel-format rule as mp4. Timestamps are in milliseconds (the container's unit).
- ``.gif``: Pillow, loops forever. A GIF stores durations in 1/100 s, so each frame's duration is rounded such that the
  running total stays exact (30 fps gives 30, 40, 30 ms, ...); rates above 50 fps are refused (viewers slow them down).
  Pillow merges identical consecutive frames into one longer frame: timing is kept, so reading back with
  ``fps=<the rate written>`` gives the original frame count.
- ``.png``: one frame is a plain PNG image; several frames become an animated PNG (APNG: lossless, exact; a viewer
  without APNG support shows the first frame). Same merging rule as GIF. For a grid of frames use ``contact_sheet``;
  for one file per frame use ``write_png_sequence``.

Reading (``read_video``) decodes mp4/webm/mov/mkv/avi/m4v/gif with PyAV and still or animated png/jpg/webp/bmp with
Pillow, applies the display rotation phone videos carry (and the EXIF orientation of photos), and can resample to a
frame rate by picking, for each target timestamp k/fps, the source frame nearest to it (ties go to the earlier frame).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageSequence
from PIL.PngImagePlugin import PngInfo

# ----------------------------------------------------------------------------------------------------------------------
# Formats and input checks
# ----------------------------------------------------------------------------------------------------------------------

WRITE_SUFFIXES = (".mp4", ".webm", ".gif", ".png")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v", ".gif")  # decoded with PyAV
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")  # decoded with Pillow (animated png/webp included)
READ_SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES

# What decoders raise on a broken file (Pillow: SyntaxError for bad PNG chunks, DecompressionBombError for huge ones).
_DECODE_ERRORS = (av.FFmpegError, OSError, EOFError, SyntaxError, Image.DecompressionBombError)
_CRF_RANGE = {".mp4": (0, 51), ".webm": (0, 63)}
_MAX_GIF_FPS = 50.0


def _suffix(path: Path, allowed: tuple[str, ...], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ValueError(f"cannot {what} {path.name!r}: suffix must be one of {', '.join(allowed)}, got {suffix!r}")
    return suffix


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"frames must be non-empty (T, H, W >= 1), got {tuple(frames.shape)}")
    return np.ascontiguousarray(frames)


def exact_rate(fps: float | Fraction) -> Fraction:
    """The frame rate as an exact fraction: 10 -> 10/1, 29.97002997 -> 30000/1001."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction)) or not math.isfinite(float(fps)):
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    if float(fps) <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


# ----------------------------------------------------------------------------------------------------------------------
# Metadata: a JSON object inside the file
# ----------------------------------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise ValueError(f"metadata must be JSON-serialisable; cannot store a {type(value).__name__}: {value!r}")


def _metadata_json(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    return json.dumps(metadata, ensure_ascii=False, default=_json_default)


def _parse_metadata(text: str | bytes | None) -> dict[str, Any]:
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"comment": text}  # a comment some other tool wrote
    return value if isinstance(value, dict) else {"comment": value}


# ----------------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------------


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float | Fraction,
    *,
    metadata: dict[str, Any] | None = None,
    crf: int = 18,
) -> Path:
    """Write uint8 frames (T, H, W, 3) to ``path`` (.mp4, .webm, .gif or .png, see the module notes); returns the path.

    ``crf`` is the constant-quality level of mp4 (0-51) and webm (0-63): lower is better and larger; 18 is visually
    lossless for H.264. The file appears complete or not at all.
    """
    path = Path(path)
    suffix = _suffix(path, WRITE_SUFFIXES, "write")
    frames = _check_frames(frames)
    rate = exact_rate(fps)
    comment = _metadata_json(metadata)
    if suffix in _CRF_RANGE:
        low, high = _CRF_RANGE[suffix]
        if isinstance(crf, bool) or not isinstance(crf, int) or not low <= crf <= high:
            raise ValueError(f"crf for {suffix} must be an int in [{low}, {high}], got {crf!r}")
    if suffix == ".gif" and float(rate) > _MAX_GIF_FPS:
        raise ValueError(f"a GIF plays at most {_MAX_GIF_FPS:g} fps (1/100 s steps); got {float(rate):g}, use .mp4")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist")

    # A hidden name in the same folder (os.replace is atomic only within one file system), created by the writer
    # itself so the file gets the usual permissions.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part{suffix}")
    try:
        if suffix in (".mp4", ".webm"):
            _write_pyav(tmp, frames, rate, comment, crf, suffix)
        elif suffix == ".gif":
            _write_gif(tmp, frames, rate, comment)
        else:
            _write_png(tmp, frames, rate, comment)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_pyav(tmp: Path, frames: np.ndarray, rate: Fraction, comment: str | None, crf: int, suffix: str) -> None:
    _, height, width, _ = frames.shape
    even = height % 2 == 0 and width % 2 == 0
    if suffix == ".mp4":
        container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        codec, options = "libx264", {"crf": str(crf)}
    else:
        container = av.open(str(tmp), "w", format="webm")
        codec, options = "libvpx-vp9", {"crf": str(crf), "b:v": "0", "deadline": "good", "cpu-used": "4"}
    with container:
        if comment is not None:
            container.metadata["comment"] = comment
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if even else "yuv444p"
        stream.options = options
        context = stream.codec_context
        context.time_base = 1 / rate
        context.colorspace, context.color_primaries, context.color_trc = 6, 6, 6  # BT.601 (smpte170m)
        context.color_range = 1  # limited ("tv") range
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush the encoder's delayed frames


def _durations_ms(count: int, rate: Fraction, step_ms: int) -> list[int]:
    """Per-frame durations, multiples of ``step_ms``, whose running total stays within half a step of i / rate."""
    ends = [round(Fraction(1000 * i, 1) / rate / step_ms) * step_ms for i in range(count + 1)]
    return [max(b - a, step_ms) for a, b in zip(ends[:-1], ends[1:])]


def _write_gif(tmp: Path, frames: np.ndarray, rate: Fraction, comment: str | None) -> None:
    images = [Image.fromarray(image) for image in frames]
    extra = {} if comment is None else {"comment": comment.encode("utf-8")}
    durations = _durations_ms(len(images), rate, step_ms=10)
    images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0, **extra
    )


def _write_png(tmp: Path, frames: np.ndarray, rate: Fraction, comment: str | None) -> None:
    info = PngInfo()
    if comment is not None:
        info.add_itxt("comment", comment)
    images = [Image.fromarray(image) for image in frames]
    if len(images) == 1:
        images[0].save(tmp, format="PNG", pnginfo=info)
        return
    durations = _durations_ms(len(images), rate, step_ms=1)
    images[0].save(
        tmp, format="PNG", pnginfo=info, save_all=True, append_images=images[1:], duration=durations, loop=0
    )


def write_png_sequence(folder: str | os.PathLike, frames: np.ndarray, *, prefix: str = "frame_") -> list[Path]:
    """Write each frame as ``folder/<prefix>00000.png``, ... (the folder is created); returns the paths in order."""
    frames = _check_frames(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(5, len(str(len(frames) - 1)))
    return [write_video(folder / f"{prefix}{i:0{digits}d}.png", frames[i : i + 1], 1) for i in range(len(frames))]


# ----------------------------------------------------------------------------------------------------------------------
# Contact sheets: many frames (or first frames of many clips) in one image
# ----------------------------------------------------------------------------------------------------------------------


def contact_sheet(
    frames_list: Sequence[np.ndarray] | np.ndarray,
    cols: int,
    labels: Sequence[str] | None = None,
    *,
    gap: int = 2,
    background: int = 128,
) -> np.ndarray:
    """A grid of images (each uint8 (H, W, 3); sizes may differ) with ``cols`` columns -> uint8 (H', W', 3).

    Cells are the size of the largest image; smaller images are centred in theirs. ``labels`` (one per image) are
    written under each cell in Pillow's default font (Latin text; other scripts may show as boxes). ``gap`` pixels of
    grey ``background`` separate the cells.
    """
    images = [np.asarray(image) for image in frames_list]
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    for image in images:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
            raise ValueError(f"contact_sheet images must be uint8 (H, W, 3), got {image.dtype} {tuple(image.shape)}")
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols must be an int >= 1, got {cols!r}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels must have one entry per image ({len(images)}), got {len(labels)}")
    if gap < 0 or not 0 <= background <= 255:
        raise ValueError(f"gap must be >= 0 and background in [0, 255], got {gap}, {background}")

    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    font = ImageFont.load_default()
    label_h = 0
    if labels is not None:
        label_h = max(font.getbbox(str(text) or " ")[3] for text in labels) + 2
    cols = min(cols, len(images))
    rows = math.ceil(len(images) / cols)
    sheet_h = rows * (cell_h + label_h) + (rows + 1) * gap
    sheet_w = cols * cell_w + (cols + 1) * gap
    sheet = Image.new("RGB", (sheet_w, sheet_h), (background,) * 3)
    draw = ImageDraw.Draw(sheet)
    text_fill = (0, 0, 0) if background >= 128 else (255, 255, 255)
    for index, image in enumerate(images):
        row, col = divmod(index, cols)
        x0 = gap + col * (cell_w + gap)
        y0 = gap + row * (cell_h + label_h + gap)
        sheet.paste(
            Image.fromarray(image), (x0 + (cell_w - image.shape[1]) // 2, y0 + (cell_h - image.shape[0]) // 2)
        )
        if labels is not None:
            draw.text((x0 + 1, y0 + cell_h + 1), str(labels[index]), fill=text_fill, font=font)
    return np.asarray(sheet)


# ----------------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------------


def read_video(
    path: str | os.PathLike, *, max_frames: int | None = None, fps: float | None = None
) -> tuple[np.ndarray, float]:
    """Decode a video or image into (uint8 frames (T, H, W, 3), fps).

    ``fps=None`` keeps every frame and returns the file's average rate; ``fps=r`` returns the frames nearest to the
    timestamps 0, 1/r, 2/r, ... that fall inside the clip (duplicating or dropping frames) and returns ``r``.
    ``max_frames`` stops after that many output frames (and stops decoding there). A still image is one frame; its fps
    is ``fps`` if given, else 0.0 (a still has no rate). Unreadable files raise ValueError naming the file.
    """
    path = Path(path)
    suffix = _suffix(path, READ_SUFFIXES, "read")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be an int >= 1 or None, got {max_frames!r}")
    target = None if fps is None else exact_rate(fps)
    if not path.is_file():
        raise ValueError(f"cannot read {path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read {path}: zero-length file")
    try:
        if suffix in VIDEO_SUFFIXES:
            with av.open(str(path)) as container:
                stream = _video_stream(container, path)
                stream.thread_type = "AUTO"
                # A GIF has per-frame durations and no real rate: its rate is measured from the timestamps.
                native = None if suffix == ".gif" else stream.average_rate or stream.guessed_rate
                timed = _pyav_frames(container, stream, native)
                frames, rate = _collect(timed, target, max_frames, native, tick=stream.time_base or Fraction(1, 1000))
        else:
            with Image.open(path) as image:
                frames, rate = _collect(_pillow_frames(image), target, max_frames, None, tick=Fraction(1, 1000))
    except _DECODE_ERRORS as error:
        raise ValueError(f"cannot read {path}: {type(error).__name__}: {error}") from error
    if not frames:
        raise ValueError(f"cannot read {path}: no frames could be decoded")
    return np.stack(frames), rate


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise ValueError(f"cannot read {path}: it has no video stream")
    return container.streams.video[0]


def _rotate(image: np.ndarray, rotation: float) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, as FFmpeg reports it) to (H, W, 3)."""
    turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


# A timed frame: (start time in seconds as an exact Fraction, duration or None, a function that gives the pixels).
TimedFrame = tuple[Fraction, Fraction | None, Any]


def _pyav_frames(container: Any, stream: Any, native: Fraction | None) -> Iterator[TimedFrame]:
    step = 1 / native if native else Fraction(1, 25)
    for index, frame in enumerate(container.decode(stream)):
        if frame.pts is not None and frame.time_base is not None:
            start = frame.pts * frame.time_base
        else:
            start = index * step
        duration = frame.duration * frame.time_base if frame.duration and frame.time_base else step
        yield start, duration, (lambda f=frame: _rotate(f.to_ndarray(format="rgb24"), getattr(f, "rotation", 0)))


def _pillow_frames(image: Image.Image) -> Iterator[TimedFrame]:
    start = Fraction(0)
    for frame in ImageSequence.Iterator(image):
        duration = Fraction(int(frame.info.get("duration") or 0), 1000) or None
        pixels = _pillow_rgb(frame)
        yield start, duration, (lambda p=pixels: p)
        start += duration or Fraction(1, 10)


def _pillow_rgb(frame: Image.Image) -> np.ndarray:
    frame = ImageOps.exif_transpose(frame)
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(white, rgba)  # transparent pixels shown on white
    return np.asarray(frame.convert("RGB"))


def _collect(
    timed: Iterator[TimedFrame],
    target: Fraction | None,
    max_frames: int | None,
    native: Fraction | None,
    *,
    tick: Fraction,
) -> tuple[list[np.ndarray], float]:
    """Convert the chosen frames to pixels: all of them (target None) or the nearest to each k / target.

    Timestamps are only known to the container's tick (1 ms in webm and APNG, 10 ms in GIF), so two frames whose
    distances to a target differ by less than half a tick count as a tie, and ties go to the earlier frame.
    """
    out: list[np.ndarray] = []
    limit = max_frames if max_frames is not None else math.inf
    if target is None:
        first = end = None
        for start, duration, pixels in timed:
            out.append(pixels())
            first = start if first is None else first
            end = start + (duration or 0)
            if len(out) >= limit:
                break
        if native:
            return out, float(native)
        if first is not None and end is not None and end > first:  # measured from the frames read
            return out, float(len(out) / (end - first))
        return out, 0.0

    k = 0
    origin = prev = None
    for start, duration, pixels in timed:
        if origin is None:
            origin = start
        while len(out) < limit and origin + k / target <= start:
            t = origin + k / target
            use_prev = prev is not None and (t - prev[0]) - (start - t) <= tick / 2
            out.append(prev[2]() if use_prev else pixels())
            k += 1
        if len(out) >= limit:
            break
        prev = (start, duration, pixels)
    if prev is not None and len(out) < limit:  # targets after the last frame's start but before the clip's end
        end = prev[0] + (prev[1] if prev[1] else (1 / native if native else 1 / target))
        while len(out) < limit and origin + k / target < end:
            out.append(prev[2]())
            k += 1
    return out, float(target)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata dict stored by ``write_video`` ({} if the file has none; a foreign non-JSON comment comes back
    as {"comment": text})."""
    path = Path(path)
    suffix = _suffix(path, READ_SUFFIXES, "read metadata of")
    try:
        if suffix in VIDEO_SUFFIXES:
            with av.open(str(path)) as container:
                tags = {key.lower(): value for key, value in container.metadata.items()}
                return _parse_metadata(tags.get("comment"))
        with Image.open(path) as image:
            return _parse_metadata(image.info.get("comment"))
    except _DECODE_ERRORS as error:
        raise ValueError(f"cannot read {path}: {type(error).__name__}: {error}") from error


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """Size and timing without decoding the clip: dict(width, height, frames, fps, codec, duration).

    width/height are as displayed (after rotation). ``frames`` comes from the container's index; where it has none
    (webm, mkv, gif) the packets are counted (read, not decoded). Only the first frame is decoded, to learn the
    display rotation and to check that the file decodes at all. Stills: frames 1, fps 0.0, duration 0.0.
    Unreadable files raise ValueError naming the file.
    """
    path = Path(path)
    suffix = _suffix(path, READ_SUFFIXES, "probe")
    if not path.is_file():
        raise ValueError(f"cannot probe {path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot probe {path}: zero-length file")
    try:
        if suffix in VIDEO_SUFFIXES:
            return _probe_pyav(path)
        return _probe_pillow(path)
    except _DECODE_ERRORS as error:
        raise ValueError(f"cannot probe {path}: {type(error).__name__}: {error}") from error


def _probe_pyav(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        first = next(container.decode(stream), None)
        if first is None:
            raise ValueError(f"cannot probe {path}: no frames could be decoded")
        rotation = getattr(first, "rotation", 0)  # PyAV >= 13
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        native = stream.average_rate or stream.guessed_rate
        frames = stream.frames
    duration = Fraction(frames) / native if frames and native else Fraction(0)
    if not frames or codec == "gif":  # no frame index, or per-frame durations (GIF): read the packets, decode none
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            packets = [packet for packet in container.demux(stream) if packet.size > 0]
            frames = len(packets)
            if codec == "gif" and all(packet.duration for packet in packets):
                duration = sum((packet.duration * stream.time_base for packet in packets), Fraction(0))
                native = frames / duration
            else:
                duration = Fraction(frames) / native if native else Fraction(0)
    if int(round(rotation / 90.0)) % 2:
        width, height = height, width
    fps = float(native) if native else 0.0
    return dict(width=width, height=height, frames=frames, fps=fps, codec=codec, duration=float(duration))


def _probe_pillow(path: Path) -> dict[str, Any]:
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that swap width and height
            width, height = height, width
        frames = int(getattr(image, "n_frames", 1))
        codec = (image.format or path.suffix[1:]).lower()
        duration = Fraction(0)
        if frames > 1:  # animated png/webp: the same default duration as read_video (100 ms) where none is stored
            for frame in ImageSequence.Iterator(image):
                duration += Fraction(int(frame.info.get("duration") or 100), 1000)
        else:
            image.load()  # a still: check that the pixels decode
    fps = float(frames / duration) if duration > 0 else 0.0
    return dict(width=width, height=height, frames=frames, fps=fps, codec=codec, duration=float(duration))
