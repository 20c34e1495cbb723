"""One training loop for every kinema model (the VAE, the DiT), the same in 1 process, CPU torchrun and GPU torchrun.

The loop knows nothing about the model, the loss or the data. The caller supplies three things:

``objective(model, batch, generator) -> (loss, metrics, tokens)``
    The loss of this process's micro-batch: ``loss`` a scalar tensor (the MEAN over the micro-batch's samples, so that
    equal-sized micro-batches average to the global mean), ``metrics`` a dict of floats or scalar tensors (averaged like
    the loss; names must not be those the loop logs itself), ``tokens`` an int (tokens or patches processed, for
    tokens/s). ``model`` is the wrapped module (DDP/FSDP/compiled): call it, don't read attributes from it. The
    objective runs under bf16 autocast when precision="bf16". ``generator`` is a torch.Generator on the model's device,
    seeded from (cfg.seed, step, rank, micro-step): fine for single-process work, but its draws depend on how the batch
    is split. For results independent of the number of processes, draw each sample's noise from that sample's own seed:
    ``per_sample_generators(batch["seed"], device)``.

``data.batch(step, rank, world_size) -> batch``
    Shard ``rank`` of ``world_size`` contiguous shards of GLOBAL batch ``step``. The contract: global batch ``step``
    holds samples ``step * B + j`` for j in [0, B) (B = cfg.batch_size), shard r holds j in [r * B/W, (r+1) * B/W), and
    each sample is a pure function of (data seed, sample index) carrying its own ``seed``. With gradient accumulation
    the trainer asks for shard ``rank * grad_accum + micro`` of ``world_size * grad_accum`` shards, which is exactly
    the micro-th contiguous piece of this rank's shard: any (processes x micro-batches) split sees the same batch.
    Optional ``state_dict() -> dict`` (JSON-serialisable) / ``load_state_dict(dict)`` for sources with an internal
    position (user folders); step-indexed sources (the procedural worlds) resume from the step alone.
    :class:`IndexedData` implements the contract: subclass it and write ``get(index, seed) -> dict``.

``sample_fn(model, step, out_dir)`` (optional)
    Called on rank 0 every cfg.sample_every steps, under torch.no_grad and in eval mode, with a plain (unwrapped)
    module holding the EMA weights (the trained weights when EMA is off); out_dir = <run>/samples.

Training details: AdamW with decay on matrices only (parameters with ndim < 2 - biases, norm scales - and nn.Embedding
tables are not decayed); linear warmup then cosine to lr * min_lr_ratio, a pure function of the step
(:mod:`kinema.train.schedule`); gradient clipping on the global norm; an fp32 EMA of the trainable parameters updated
after every optimizer step with decay min(ema_decay, (1 + n) / (10 + n)) after n steps; bf16 autocast with fp32 master
weights.

Resume: ``Trainer(..., resume=True)`` restores model, optimizer, EMA, step (hence LR position and data position),
wall time, the global torch RNG states of every rank (for dropout-like draws inside models) and the data state, from
the latest checkpoint in cfg.out_dir; a run continued this way computes the same losses and weights as one that was
never stopped. The config passed in wins over the checkpoint's (a note lists the fields that differ).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import shlex
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from kinema.train import dist
from kinema.train.checkpoint import (
    append_metrics,
    latest_checkpoint,
    load_checkpoint,
    plot_loss,
    save_checkpoint,
    truncate_metrics,
    write_json,
)
from kinema.train.config import TrainConfig
from kinema.train.schedule import ema_decay_at, lr_at, param_groups

Objective = Callable[[nn.Module, Any, torch.Generator], tuple[torch.Tensor, dict[str, Any], int]]
SampleFn = Callable[[nn.Module, int, Path], None]
LOGGED = ("step", "loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "wall_s", "time")


def _dcp():
    """torch.distributed.checkpoint.state_dict, imported on first use: importing it (DTensor, sympy) costs ~1 s, and
    kinema.train.data / recipes (imported by every `kinema generate`) import this module."""
    import torch.distributed.checkpoint.state_dict as dcp

    return dcp


def _full() -> Any:
    """Whole (unsharded) state dicts, on the CPU: what a checkpoint stores."""
    return _dcp().StateDictOptions(full_state_dict=True, cpu_offload=True)

# ----------------------------------------------------------------------------------------------------------------------
# Seeds: independent streams from integers, and per-sample generators
# ----------------------------------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from any integers (splitmix64 chain): distinct tuples give unrelated streams."""
    h = 0
    for p in parts:
        h = _splitmix64(h ^ (int(p) & _M64))
    return h >> 1


def per_sample_generators(seeds: torch.Tensor | list[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One generator per sample, seeded from that sample's seed: noise that does not depend on how a batch is split.

    Example: ``eps = torch.stack([torch.randn(x.shape[1:], generator=g, device=x.device) for g in gens])``.
    """
    seeds = seeds.tolist() if isinstance(seeds, torch.Tensor) else list(seeds)
    return [torch.Generator(device=device).manual_seed(derive_seed(s, 0x6E6F697365)) for s in seeds]


# ----------------------------------------------------------------------------------------------------------------------
# Data: the step-indexed contract
# ----------------------------------------------------------------------------------------------------------------------


class IndexedData:
    """A data source whose sample `index` is a pure function of (seed, index). Subclasses write `get`.

    batch(step, rank, world_size) collates samples step*B + j for j in this rank's contiguous shard, and adds each
    sample's "seed" (int64) and "index" (int64) to the batch.
    """

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.seed = seed

    def get(self, index: int, seed: int) -> dict[str, Any]:
        raise NotImplementedError("IndexedData subclasses implement get(index, seed) -> dict")

    def shard(self, step: int, rank: int, world_size: int) -> range:
        if world_size < 1 or self.batch_size % world_size or not 0 <= rank < world_size:
            raise ValueError(
                f"batch_size {self.batch_size} must split into world_size={world_size} equal shards, rank in [0, W)"
            )
        n = self.batch_size // world_size
        start = step * self.batch_size + rank * n
        return range(start, start + n)

    def batch(self, step: int, rank: int, world_size: int) -> dict[str, Any]:
        items = []
        for i in self.shard(step, rank, world_size):
            s = derive_seed(self.seed, i)
            items.append({**self.get(i, s), "seed": s, "index": i})
        return collate(items)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors / numpy arrays / numbers per key; anything else (captions, dicts) becomes a list."""
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[key] = torch.stack(vals)
        elif isinstance(vals[0], np.ndarray):
            out[key] = torch.from_numpy(np.stack(vals))
        elif isinstance(vals[0], (bool, int, float)):
            out[key] = torch.tensor(vals)
        else:
            out[key] = vals
    return out


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


# ----------------------------------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------------------------------


def command_line(argv: list[str]) -> str:
    """argv as a run's command.txt records it, the program by its name rather than its path on this machine (a console
    script /somewhere/.venv/bin/kinema -> kinema; python -m kinema's /somewhere/kinema/__main__.py -> python -m
    kinema), every argument shell-quoted as given."""
    prog = Path(argv[0]).name if argv else ""
    if prog == "__main__.py":
        prog = f"python -m {Path(argv[0]).parent.name}"
    return " ".join([prog, *(shlex.quote(a) for a in argv[1:])])


class Trainer:
    """Trainer(model, objective, data, cfg, run_config=..., sample_fn=None, resume=False).fit()

    model: a plain nn.Module (built on any device; the trainer moves it to cfg.device and wraps it).
    run_config: JSON-serialisable dict of the other configs ({"model": ..., "data": ...}); saved with "train" added.
    resume: continue from the latest checkpoint in cfg.out_dir (a fresh start when there is none). Without it, a
        cfg.out_dir that already holds checkpoints is refused.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        data: Any,
        cfg: TrainConfig,
        *,
        run_config: dict[str, Any],
        sample_fn: SampleFn | None = None,
        resume: bool = False,
    ) -> None:
        self.cfg, self.objective, self.data, self.sample_fn = cfg, objective, data, sample_fn
        self.info = dist.init_distributed()
        self.main = self.info.is_main
        shards = self.info.world_size * cfg.grad_accum
        if cfg.batch_size % shards:
            raise ValueError(
                f"batch_size {cfg.batch_size} must be divisible by world_size * grad_accum = "
                f"{self.info.world_size} * {cfg.grad_accum}"
            )
        data_bs = getattr(data, "batch_size", None)
        if data_bs is not None and data_bs != cfg.batch_size:
            raise ValueError(f"data.batch_size is {data_bs} but TrainConfig.batch_size is {cfg.batch_size}")
        if "train" in run_config and run_config["train"] != cfg.to_dict():
            raise ValueError("run_config['train'] differs from cfg; leave it out, the trainer adds it")
        self.run_config = {**run_config, "train": cfg.to_dict()}
        try:
            json.dumps(self.run_config)
        except TypeError as e:
            raise ValueError(f"run_config must be JSON-serialisable: {e}") from None
        self.run_dir = Path(cfg.out_dir)
        self.device = dist.resolve_device(cfg.device, self.info)
        self.fsdp = cfg.fsdp and self.info.distributed

        # Model, wrapper, optimizer. The sampling copy is taken before wrapping (FSDP shards in place).
        self.module = model.to(self.device)
        needs_copy = sample_fn is not None and self.main and (cfg.ema_decay > 0 or self.fsdp)
        self.sample_module = copy.deepcopy(self.module) if needs_copy else None
        self.model = dist.wrap_model(self.module, self.info, self.device, fsdp=self.fsdp)
        self.params = [(n, p) for n, p in self.module.named_parameters() if p.requires_grad]
        groups = param_groups(self.module, cfg.weight_decay, cfg.lr_mult)
        self.group_decays = [g["weight_decay"] > 0 for g in groups]
        # fused: one kernel for every parameter (CPU and CUDA builds have it; ~4x faster steps than foreach on CPU)
        fused = self.device.type in ("cpu", "cuda") and all(p.is_floating_point() for _, p in self.params)
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                                           fused=fused)
        aliases: dict[int, list[str]] = {}
        for n, p in self.module.named_parameters(remove_duplicate=False):
            aliases.setdefault(id(p), []).append(n)
        self.aliases = {n: aliases[id(p)] for n, p in self.params}

        # State: fresh, or from the latest checkpoint.
        self.step, self.wall_s, self.last_saved = 0, 0.0, -1
        found = latest_checkpoint(self.run_dir)
        if found is not None and not resume:
            raise ValueError(
                f"{self.run_dir} already holds checkpoints ({found.name}); pass resume=True or use a new out_dir"
            )
        ckpt = load_checkpoint(found) if (resume and found is not None) else None
        if ckpt is not None:
            self._load_model_and_optimizer(ckpt)
        keep_ema = cfg.ema_decay > 0 and (self.fsdp or self.main)  # DDP ranks > 0 never read the EMA
        self.ema = {n: p.detach().clone().float() for n, p in self.params} if keep_ema else None
        if ckpt is not None:
            self._load_rest(ckpt)
        self.train_model = torch.compile(self.model) if cfg.compile else self.model
        self._signal: int | None = None
        self._in_update = False

    # ------------------------------------------------------------------------------------------------------------------
    # The loop
    # ------------------------------------------------------------------------------------------------------------------

    def fit(self, stop_at: int | None = None) -> dict[str, Any] | None:
        """Train to cfg.steps (or stop, with a checkpoint, after step `stop_at`; the schedule still spans cfg.steps).

        Returns the last logged record. On Ctrl-C or SIGTERM: finishes the current step, checkpoints, then raises
        KeyboardInterrupt (SIGINT) or SystemExit(143) (SIGTERM).
        """
        cfg = self.cfg
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        self._signal = None
        metrics_path = self.run_dir / "metrics.jsonl"
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json(self.run_dir / "config.json", self.run_config)
            truncate_metrics(metrics_path, self.step)
            with open(self.run_dir / "command.txt", "a", encoding="utf-8") as f:  # every start and resume, in order
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} from step {self.step}: "
                        f"{command_line(sys.argv)}\n")
        self.module.train()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.main, desc="train", dynamic_ncols=True)
        t_start, wall_start = time.perf_counter(), self.wall_s
        t_log, step_log, tokens_log = t_start, self.step, 0
        record = None
        restore = self._install_signal_handlers()
        try:
            while self.step < end:
                loss, metrics, tokens, grad_norm, lr = self._train_step()
                tokens_log += tokens
                self.wall_s = wall_start + time.perf_counter() - t_start
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == end:
                    now = time.perf_counter()
                    record = self._log(loss, metrics, tokens_log, grad_norm, lr, now - t_log, self.step - step_log)
                    t_log, step_log, tokens_log = now, self.step, 0
                    if self.main:
                        append_metrics(metrics_path, record)
                        bar.set_postfix(
                            loss=f"{record['loss']:.4g}",
                            lr=f"{lr:.2e}",
                            samples_s=f"{record['samples_per_s']:.3g}",
                            tokens_s=f"{record['tokens_per_s']:.3g}",
                            refresh=False,
                        )
                    if not math.isfinite(record["loss"]):
                        raise FloatingPointError(f"loss is {record['loss']} at step {self.step}; stopping")
                stop = self._stop_signal()
                if (cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or self.step == end or stop:
                    self.save()
                if cfg.sample_every and self.step % cfg.sample_every == 0 and self.sample_fn is not None:
                    self._sample()
                if stop == signal.SIGINT:
                    raise KeyboardInterrupt(f"interrupted at step {self.step}; checkpoint saved")
                if stop:
                    raise SystemExit(128 + stop)
        except KeyboardInterrupt:
            # A Ctrl-C our handler did not see (not the main thread): the state is consistent unless it landed inside
            # the optimizer/EMA update. Saving is a collective under torchrun, so only a single process saves here.
            if self.step != self.last_saved and not self._in_update and not self.info.distributed:
                self.save()
            raise
        finally:
            restore()
            bar.close()
        dist.barrier()
        return record

    def _train_step(self) -> tuple[torch.Tensor, dict[str, Any], int, float, float]:
        cfg, info = self.cfg, self.info
        accum = cfg.grad_accum
        lr = lr_at(cfg, self.step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        metric_sums: dict[str, Any] = {}
        tokens = 0
        for micro in range(accum):
            batch = self.data.batch(self.step, info.rank * accum + micro, info.world_size * accum)
            batch = to_device(batch, self.device)
            gen = torch.Generator(device=self.device).manual_seed(derive_seed(cfg.seed, self.step, info.rank, micro))
            with dist.grad_sync(self.model, micro == accum - 1):
                with self._autocast():
                    loss, metrics, n_tokens = self.objective(self.train_model, batch, gen)
                (loss.float() / accum).backward()
            loss_sum += loss.detach().float()
            for k, v in metrics.items():
                metric_sums[k] = metric_sums.get(k, 0.0) + (v.detach().float() if isinstance(v, torch.Tensor) else v)
            tokens += int(n_tokens)
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_([p for _, p in self.params], max_norm)
        self._in_update = True
        self.optimizer.step()
        self.step += 1
        if self.ema is not None:
            self._update_ema()
        self._in_update = False
        metrics = {k: v / accum for k, v in metric_sums.items()}
        return loss_sum / accum, metrics, tokens, dist.full_tensor(grad_norm), lr

    @torch.no_grad()
    def _update_ema(self) -> None:
        weight = 1.0 - ema_decay_at(self.cfg, self.step)
        for name, p in self.params:
            self.ema[name].lerp_(p.detach().float(), weight)

    def _autocast(self) -> Any:
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _log(
        self, loss: torch.Tensor, metrics: dict[str, Any], tokens: int, grad_norm: Any, lr: float, dt: float, steps: int
    ) -> dict[str, Any]:
        """Average the loss and metrics over ranks, sum tokens over ranks, and build one metrics.jsonl record."""
        clash = sorted(set(metrics) & set(LOGGED))
        if clash:
            raise ValueError(f"objective metric names {clash} collide with the trainer's own fields {LOGGED}")
        names = sorted(metrics)
        vals = [loss] + [metrics[k] for k in names] + [float(tokens)]
        packed = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(self.device) for v in vals])
        packed = dist.all_reduce(packed, "sum").cpu()
        world = self.info.world_size
        dt = max(dt, 1e-9)
        record = {
            "step": self.step,
            "loss": float(packed[0]) / world,
            "lr": lr,
            "grad_norm": float(grad_norm),
            "samples_per_s": steps * self.cfg.batch_size / dt,
            "tokens_per_s": float(packed[-1]) / dt,
            "wall_s": self.wall_s,
            "time": time.time(),
        }
        record.update({k: float(packed[1 + i]) / world for i, k in enumerate(names)})
        return record

    # ------------------------------------------------------------------------------------------------------------------
    # Signals: finish the step, checkpoint, then stop
    # ------------------------------------------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self._signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self._signal = signum

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def _stop_signal(self) -> int:
        """The signal number any rank received (0 if none); all ranks agree, so they checkpoint and stop together."""
        mine = torch.tensor(float(self._signal or 0))
        return int(dist.all_reduce(mine, "max").item()) if self.info.distributed else int(mine.item())

    # ------------------------------------------------------------------------------------------------------------------
    # Checkpoints (collectives under torchrun: every rank calls, rank 0 writes)
    # ------------------------------------------------------------------------------------------------------------------

    def _model_state(self) -> dict[str, torch.Tensor]:
        if not (self.fsdp or self.main):
            return {}
        return _dcp().get_model_state_dict(self.module, options=_full())

    def _ema_state(self, model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """The model's full state with every trainable parameter (and its tied aliases) replaced by its EMA."""
        if self.ema is None:
            return None
        full = dict(model_state)
        for name, t in self.ema.items():
            whole = dist.full_tensor(t)
            if self.main:
                for alias in self.aliases[name]:
                    full[alias] = whole.detach().cpu().clone()
        return full if self.main else None

    def _rng_state(self) -> dict[str, list[str] | None]:
        def b64(states: list[torch.Tensor]) -> list[str]:
            return [base64.b64encode(s.numpy().tobytes()).decode("ascii") for s in states]

        cpu = b64(dist.all_gather(torch.get_rng_state()))
        cuda = None
        if self.device.type == "cuda":
            cuda = b64(dist.all_gather(torch.cuda.get_rng_state(self.device)))
        return {"torch_cpu": cpu, "torch_cuda": cuda}

    def save(self) -> Path | None:
        """Checkpoint the current step (rank 0 writes; returns its path there, None elsewhere)."""
        model_state = self._model_state()
        ema_state = self._ema_state(model_state)
        optim_state = (
            _dcp().get_optimizer_state_dict(self.module, self.optimizer, options=_full())
            if (self.fsdp or self.main) else None
        )
        rng = self._rng_state()
        self.last_saved = self.step
        if not self.main:
            return None
        data_state = self.data.state_dict() if hasattr(self.data, "state_dict") else {}
        trainer = {
            "wall_s": self.wall_s,
            "world_size": self.info.world_size,
            "rng": rng,
            "data": data_state,
            "config": self.run_config,
            "versions": {"torch": torch.__version__},
        }
        path = save_checkpoint(
            self.run_dir,
            self.step,
            model=model_state,
            ema=ema_state,
            optimizer=optim_state,
            trainer=trainer,
            config=self.run_config,
            keep_last=self.cfg.keep_last,
        )
        plot_loss(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png")
        return path

    def _load_model_and_optimizer(self, ckpt: Any) -> None:
        dcp = _dcp()
        dcp.set_model_state_dict(self.module, ckpt.model, options=dcp.StateDictOptions(full_state_dict=True,
                                                                                       strict=True))
        dcp.set_optimizer_state_dict(
            self.module, self.optimizer, ckpt.optimizer, options=dcp.StateDictOptions(full_state_dict=True)
        )
        for g, decays in zip(self.optimizer.param_groups, self.group_decays):  # the config passed in wins
            g["weight_decay"] = self.cfg.weight_decay if decays else 0.0
            g["betas"] = self.cfg.betas

    def _load_rest(self, ckpt: Any) -> None:
        """EMA, step, wall time, RNG states and data position (after the model and the fresh EMA exist)."""
        if self.ema is not None and ckpt.ema is not None:
            with torch.no_grad():
                for name, t in self.ema.items():
                    t.copy_(dist.shard_like(ckpt.ema[name].float(), t))
        elif self.ema is not None and self.main:
            warnings.warn(f"{ckpt.path.name} has no EMA weights; the EMA starts from the loaded weights", stacklevel=3)
        self.step, self.wall_s, self.last_saved = ckpt.step, float(ckpt.trainer["wall_s"]), ckpt.step
        rng = ckpt.trainer["rng"]
        if ckpt.trainer["world_size"] == self.info.world_size:
            torch.set_rng_state(_decode_state(rng["torch_cpu"][self.info.rank]))
            if self.device.type == "cuda" and rng.get("torch_cuda"):
                torch.cuda.set_rng_state(_decode_state(rng["torch_cuda"][self.info.rank]), self.device)
        elif self.main:
            warnings.warn("world size changed since the checkpoint: global torch RNG states not restored", stacklevel=3)
        if hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(ckpt.trainer["data"])
        old = ckpt.trainer["config"].get("train", {})
        changed = sorted(k for k, v in self.cfg.to_dict().items() if old.get(k) != v)
        if changed and self.main:
            tqdm.write(f"resuming from {ckpt.path.name} with changed train config fields: {changed}")

    # ------------------------------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------------------------------

    def _sample(self) -> None:
        if self.ema is not None or self.fsdp:
            model_state = self._model_state()
            state = self._ema_state(model_state) if self.cfg.ema_decay > 0 else model_state
            if not self.main:
                return
            self.sample_module.load_state_dict(state)
            module = self.sample_module
        elif self.cfg.ema_decay > 0 or not self.main:  # DDP ranks > 0: nothing to do
            return
        else:
            module = self.module
        out = self.run_dir / "samples"
        out.mkdir(parents=True, exist_ok=True)
        was_training = module.training
        module.eval()
        with torch.no_grad():
            self.sample_fn(module, self.step, out)
        module.train(was_training)


def _decode_state(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()
