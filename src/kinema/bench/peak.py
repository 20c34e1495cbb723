"""Peak throughput of this machine: large square matmuls in fp32 and bf16, and bf16 attention (SDPA), in TFLOP/s.

The bf16 matmul number is the denominator of every MFU that kinema reports (model FLOPs utilisation: the FLOPs a
model step needs by analytic count, divided by its time, divided by this peak), measured in the same process so that
the load on the machine is the same for both. The peak is the best of `repeat` timed calls after one warm-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from kinema.bench.machine import table, timed_cpu

# ----------------------------------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------------------------------


def _best(fn, repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) over `repeat` calls after one warm-up call."""
    fn()  # warm-up: kernels chosen, pages touched
    times = [timed_cpu(fn) for _ in range(repeat)]
    return min(w for w, _ in times), min(c for _, c in times)


def matmul_tflops(size: int, dtype: torch.dtype, repeat: int = 3) -> tuple[float, float]:
    """(TFLOP/s by wall time, by CPU time) of a (size x size) @ (size x size) matmul in `dtype`: 2 size^3 FLOPs."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(dtype)  # (n, n)
    b = torch.randn(size, size, generator=g).to(dtype)  # (n, n)
    out = torch.empty(size, size, dtype=dtype)  # (n, n)
    wall, cpu = _best(lambda: torch.mm(a, b, out=out), repeat)
    return 2.0 * size**3 / wall / 1e12, 2.0 * size**3 / cpu / 1e12


@dataclass
class AttentionShape:
    batch: int = 4
    heads: int = 6
    tokens: int = 2048
    head_dim: int = 64

    @property
    def flops(self) -> float:
        """QK^T and AV: 2 matmuls of B*h*N*N*hd multiply-adds each."""
        return 4.0 * self.batch * self.heads * self.tokens**2 * self.head_dim


def attention_tflops(shape: AttentionShape, repeat: int = 3) -> tuple[float, float]:
    """(TFLOP/s by wall time, by CPU time) of a bf16 F.scaled_dot_product_attention forward (no mask: flash kernel)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape.batch, shape.heads, shape.tokens, shape.head_dim, generator=g).bfloat16()
               for _ in range(3))  # (B, h, N, hd) each
    with torch.no_grad():
        wall, cpu = _best(lambda: F.scaled_dot_product_attention(q, k, v), repeat)
    return shape.flops / wall / 1e12, shape.flops / cpu / 1e12


# ----------------------------------------------------------------------------------------------------------------------
# The peak of this machine, and MFU against it
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Peak:
    """TFLOP/s by wall time (best of `repeat`), and the same by CPU time of the process (`cpu`: same keys).

    On an idle machine with one torch thread the two agree; on a shared machine the CPU-time numbers are the steadier.
    """

    fp32_tflops: float
    bf16_tflops: float
    attention_bf16_tflops: float
    size: int
    repeat: int
    attention: dict[str, int]
    cpu: dict[str, float]  # fp32_tflops, bf16_tflops, attention_bf16_tflops by process CPU time

    def of(self, precision: str, clock: str = "wall") -> float:
        """The matmul peak an MFU in `precision` ("bf16" | "fp32") by `clock` ("wall" | "cpu") is measured against."""
        if precision not in ("bf16", "fp32") or clock not in ("wall", "cpu"):
            raise ValueError(f"precision must be 'bf16' or 'fp32' and clock 'wall' or 'cpu', got {precision!r}, "
                             f"{clock!r}")
        key = f"{precision}_tflops"
        return getattr(self, key) if clock == "wall" else self.cpu[key]


def measure_peak(size: int = 4096, repeat: int = 3, attention: AttentionShape | None = None) -> Peak:
    """fp32 and bf16 matmul peaks at `size` and bf16 attention throughput at `attention` (default B4 h6 N2048 hd64)."""
    if size < 1 or repeat < 1:
        raise ValueError(f"size and repeat must be >= 1, got size={size}, repeat={repeat}")
    attention = attention or AttentionShape()
    fp32 = matmul_tflops(size, torch.float32, repeat)
    bf16 = matmul_tflops(size, torch.bfloat16, repeat)
    attn = attention_tflops(attention, repeat)
    return Peak(fp32_tflops=fp32[0], bf16_tflops=bf16[0], attention_bf16_tflops=attn[0], size=size, repeat=repeat,
                attention=asdict(attention),
                cpu={"fp32_tflops": fp32[1], "bf16_tflops": bf16[1], "attention_bf16_tflops": attn[1]})


def mfu(flops: float, seconds: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: flops / seconds as a fraction of peak_tflops."""
    return flops / seconds / (peak_tflops * 1e12)


def peak_table(p: Peak) -> str:
    a = p.attention
    rows = [
        {"what": f"fp32 matmul {p.size}x{p.size}", "TFLOP/s": p.fp32_tflops, "by CPU time": p.cpu["fp32_tflops"]},
        {"what": f"bf16 matmul {p.size}x{p.size}", "TFLOP/s": p.bf16_tflops, "by CPU time": p.cpu["bf16_tflops"]},
        {"what": f"bf16 SDPA B{a['batch']} h{a['heads']} N{a['tokens']} hd{a['head_dim']}",
         "TFLOP/s": p.attention_bf16_tflops, "by CPU time": p.cpu["attention_bf16_tflops"]},
    ]
    return (table(rows, ["what", "TFLOP/s", "by CPU time"])
            + f"\n(best of {p.repeat}; bf16/fp32 = {p.bf16_tflops / p.fp32_tflops:.2f}; CPU time sums all threads)")


def run_peak(size: int, repeat: int, attention: AttentionShape | None = None) -> tuple[dict[str, Any], str]:
    """-> (result fields, table) for `kinema bench peak`."""
    p = measure_peak(size, repeat, attention)
    return {"peak": asdict(p)}, peak_table(p)
