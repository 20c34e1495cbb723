"""What machine a benchmark ran on, and the shared ways of timing and reporting one.

Every benchmark result is a dict that carries `machine` (machine_info()) and `command` (the exact command line), is
printed as a table for people, and with --json also as ONE JSON object on the last line of stdout for programs.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# The CPU flags that decide how fast bf16 runs: AMX tiles (Intel Sapphire Rapids+) >> AVX-512 BF16 > AVX-512 > AVX2.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")

# ----------------------------------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------------------------------


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def machine_info() -> dict[str, Any]:
    """CPU model, family/model numbers, usable cores, torch threads, memory, the FLAGS present, torch version."""
    import torch

    info = _cpuinfo()
    if "model name" not in info:  # not Linux-on-x86 /proc/cpuinfo: ask lscpu, then the platform module
        ls = _lscpu()
        info = {"model name": ls.get("Model name", ""), "flags": ls.get("Flags", ""),
                "cpu family": ls.get("CPU family", ""), "model": ls.get("Model", "")}
    cpu = info.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    present = set(info.get("flags", "").split())
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 2**20
    except (OSError, AttributeError):
        mem = None
    return {
        "cpu": cpu,
        "family": info.get("cpu family") or None,
        "model": info.get("model") or None,
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "memory_gib": None if mem is None else round(mem, 1),
        "flags": {f: f in present for f in FLAGS},
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def describe(machine: dict[str, Any]) -> str:
    """One line naming the machine, e.g. 'AMD EPYC (family 25 model 17), 2 cores, 1 torch thread, avx512_bf16'."""
    fam = f" (family {machine['family']} model {machine['model']})" if machine.get("family") else ""
    flags = [f for f in ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16") if machine["flags"].get(f)]
    threads = machine["torch_threads"]
    return (f"{machine['cpu']}{fam}, {machine['cores']} cores, {threads} torch thread{'s' * (threads != 1)}, "
            f"{' '.join(flags) or 'no avx512f/bf16/amx'}{'' if machine['flags'].get('amx_tile') else ', no AMX'}, "
            f"torch {machine['torch']}")


# ----------------------------------------------------------------------------------------------------------------------
# Timing and memory
# ----------------------------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of fn takes (wall clock)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one call of fn.

    On a machine shared with other work, CPU time is the steadier measure: with one torch thread it is close to the
    wall time the call would take alone; with n threads it is up to n times the wall time.
    """
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def reset_peak_rss() -> bool:
    """Reset this process's peak resident set (Linux: write 5 to /proc/self/clear_refs). False where it can't."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_gib() -> float:
    """Resident memory of this process now, in GiB (0.0 where /proc is missing)."""
    try:
        return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 2**20
    except (OSError, AttributeError):
        return 0.0


def peak_rss_gib() -> float:
    """Peak resident memory of this process since the last reset_peak_rss() (else since it started), in GiB."""
    try:
        kib = int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; never reset
    return kib / 2**20


# ----------------------------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------------------------


def fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e3 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain-text table of `rows` (dicts) with the given columns, numbers right-aligned."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    for r, row in zip(rows, cells):
        lines.append("  ".join(v.rjust(w) if isinstance(r.get(c), (int, float)) else v.ljust(w)
                               for c, v, w in zip(columns, row, widths)).rstrip())
    return "\n".join(lines)


def emit(result: dict[str, Any], text: str, as_json: bool) -> None:
    """Print the machine line, the command, the human-readable text and, with as_json, the result as the last line."""
    print(f"machine: {describe(result['machine'])}")
    print(f"command: {result['command']}")
    print(text)
    if as_json:
        print(json.dumps(result, separators=(",", ":")))
