"""`kinema play --live`: steer the camera with the keyboard; frames drawn in the terminal as ANSI half-blocks.

Each character cell shows two pixels: the upper half block U+2580 in the top pixel's colour (24-bit foreground) on the
bottom pixel's colour (background). The terminal is put in cbreak mode (keys arrive one by one, no echo; Ctrl-C still
interrupts) and restored on every exit. Each tick takes the last key pressed since the previous tick (none: "."),
generates one frame and paces the loop to the model's frame rate; the status line shows the measured generation rate.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import TextIO

import numpy as np

HALF = "\u2580"
QUIT = ("\x1b", "\x04")  # Esc, Ctrl-D
HELP = "W/S move  A/D turn  Q/E strafe  space no-op  Esc quits"


def frame_to_ansi(frame: np.ndarray, scale: int = 1) -> list[str]:
    """uint8 (H, W, 3) -> one string per pair of pixel rows (24-bit colour escapes, reset at each line's end)."""
    if scale > 1:
        frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    if frame.shape[0] % 2:
        frame = np.concatenate([frame, np.zeros_like(frame[:1])])
    lines = []
    for top, bottom in zip(frame[0::2], frame[1::2]):
        cells = [f"\x1b[38;2;{t[0]};{t[1]};{t[2]}m\x1b[48;2;{b[0]};{b[1]};{b[2]}m{HALF}" for t, b in zip(top, bottom)]
        lines.append("".join(cells) + "\x1b[0m")
    return lines


def require_tty(stdin: TextIO, stdout: TextIO) -> None:
    """One clear error when there is no terminal to play in."""
    for name, stream in (("stdin", stdin), ("stdout", stdout)):
        if not (hasattr(stream, "isatty") and stream.isatty()):
            raise ValueError(f"--live needs an interactive terminal, but {name} is not a TTY; render a scripted "
                             "rollout instead: kinema play --actions \"W W A ...\" -o out.mp4")


def _read_keys(fd: int) -> str:
    """Everything typed since the last call (never blocks)."""
    out = ""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 64)
        if not chunk:
            break
        out += chunk.decode("utf-8", "ignore")
    return out


def play_live(session, start: np.ndarray | None, *, truth=None, fps: float = 10.0, scale: int = 1,
              stdin: TextIO | None = None, stdout: TextIO | None = None) -> dict[str, float]:
    """Run the live loop until Esc / Ctrl-D (Ctrl-C raises KeyboardInterrupt after restoring the terminal).

    session: a fresh kinema.interactive.session.Session; start: the first view (None: made from the prompt);
    truth: optional (world, pose) of the ground-truth explore world, drawn beside the model (--compare).
    Returns {"frames", "mean_ms", "fps"} of the frames generated.
    """
    import termios
    import tty

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    require_tty(stdin, stdout)
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    times: list[float] = []  # generation time of each frame
    ticks: list[float] = []  # start of each loop iteration (the displayed frame rate)
    try:
        tty.setcbreak(fd)
        stdout.write("\x1b[?25l\x1b[2J")  # hide the cursor, clear the screen
        frame = session.start_from_image(start) if start is not None else session.start_from_text()
        key, period = ".", 1.0 / fps
        while True:
            shown = frame
            if truth is not None:
                world, pose = truth
                shown = np.concatenate([frame, world.view(pose, frame.shape[1], frame.shape[0])], axis=1)
            ms = 1e3 * np.mean(times[-20:]) if times else 0.0
            shown_fps = (len(ticks[-21:]) - 1) / (ticks[-1] - ticks[-21:][0]) if len(ticks) > 1 else 0.0
            status = (f" {shown_fps:4.1f} fps shown | {1e3 / ms if ms else 0:5.1f} fps possible | {ms:5.1f} ms/frame "
                      f"(dit {1e3 * session.timing['dit_s']:4.1f}, decode {1e3 * session.timing['decode_s']:4.1f}) | "
                      f"key {key} | {session.steps} step(s) | {HELP}")
            stdout.write("\x1b[H" + "\n".join(frame_to_ansi(shown, scale)) + "\n\x1b[K" + status + "\n")
            stdout.flush()
            tick = time.perf_counter()
            ticks.append(tick)
            typed = _read_keys(fd)
            if any(q in typed for q in QUIT):
                break
            keys = [c.upper() for c in typed if c.upper() in "WSADQE. "]
            key = keys[-1].replace(" ", ".") if keys else "."
            t0 = time.perf_counter()
            frame = session.step(key)
            times.append(time.perf_counter() - t0)
            if truth is not None:
                truth = (truth[0], truth[0].step(truth[1], key, 1.0 / fps))
            time.sleep(max(0.0, period - (time.perf_counter() - tick)))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        stdout.write("\x1b[0m\x1b[?25h\n")
        stdout.flush()
    mean = float(np.mean(times)) if times else 0.0
    return {"frames": len(times), "mean_ms": 1e3 * mean, "fps": 1.0 / mean if mean else 0.0}
