"""The run's metrics, one object shared by the algorithm and the callbacks.

- During an update the algorithm `add`s per-batch values (tensors stay where they are: no host sync per batch);
  at the end of the rollout `update_means()` turns them into one mean per key.
- `timer(phase)` adds wall seconds to one of the `PHASES` (collect, advantages, update, eval, checkpoint); every
  rollout's row logs the totals so far as `time/<phase>_s`, and the run's summary has the final totals.
- `log(values, env_steps)` sends a row to every logger with the env-step count as the step (Lightning's step
  counters count optimizer steps or batches, which are not comparable across algorithms) and keeps the latest
  value of every key (`latest`), the evaluations (`evaluations`) and the training-return curve (`training_curve`,
  thinned to at most `2 * curve_points` points), which is what the summary and the learning-curve plot need.
  A checkpoint holds these (`state_dict`), so its size does not grow with the run's length.
"""

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from lightning.pytorch.loggers import Logger
from torch import Tensor

#: where the training time goes, in the order a rollout passes through them
PHASES = ("collect", "advantages", "update", "eval", "checkpoint")
STEP_KEY = "progress/env_steps"
EVAL_KEY = "eval/episode_return_mean"
TRAINING_RETURN_KEY = "rollout/episode_return_mean"


class Metrics:
    """Args:
    curve_points: the training-return curve keeps between `curve_points` and `2 * curve_points` points: when it
        is full, every second point goes and later rollouts are kept half as often.
    """

    def __init__(self, curve_points: int = 1000):
        self.loggers: list[Logger] = []
        self.latest: dict[str, float] = {}
        self.evaluations: list[dict[str, float]] = []
        self.training_curve: list[tuple[float, float]] = []
        self.phase_seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.curve_points = curve_points
        self._curve_stride = 1
        self._curve_skipped = 0
        self._update: dict[str, list[Tensor]] = defaultdict(list)
        self._constants: dict[float, Tensor] = {}

    # ----------------------------------------------------------------- one update
    def add(self, values: Mapping[str, Tensor | float]) -> None:
        """Per-batch values of the current update, e.g. `{"losses/policy": loss}`; logged as means over it."""
        for key, value in values.items():
            if not isinstance(value, Tensor):
                value = self._constant(float(value))
            elif value.requires_grad or value.dtype != torch.float32 or value.device.type != "cpu":
                value = value.detach().float().cpu()
            self._update[key].append(value)

    def _constant(self, value: float) -> Tensor:
        """A 0-d float32 tensor of `value`; 0 and 1 are made once (the lists only read them): a PPO update adds the
        same `diagnostics/early_stop` flag at every minibatch, and other numbers (an update's explained variance) rarely
        repeat."""
        if value not in (0.0, 1.0):
            return torch.tensor(value)
        tensor = self._constants.get(value)
        if tensor is None:
            tensor = self._constants[value] = torch.tensor(value)
        return tensor

    def update_means(self) -> dict[str, float]:
        """The mean of each key `add`ed since the last call (one host sync for all of them)."""
        if not self._update:
            return {}
        keys = list(self._update)
        one_step = all(len(v) == 1 and v[0].dim() == 0 for v in self._update.values())
        if one_step:  # (A2C, VPG): no means to take
            means = torch.stack([self._update[k][0] for k in keys]).tolist()
        else:
            means = torch.stack([torch.stack(self._update[k]).mean() for k in keys]).tolist()
        self._update.clear()
        return dict(zip(keys, means, strict=True))

    @contextmanager
    def timer(self, phase: str) -> Iterator[None]:
        """Add the wall seconds of the block to `phase_seconds[phase]` (asynchronous GPU work is counted where it
        synchronizes)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[phase] += time.perf_counter() - start

    def phase_metrics(self) -> dict[str, float]:
        """`time/<phase>_s`: the seconds spent in each phase so far."""
        return {f"time/{phase}_s": seconds for phase, seconds in self.phase_seconds.items()}

    # ----------------------------------------------------------------- logging
    def log(self, values: Mapping[str, float], env_steps: int) -> None:
        """Send `values` (plus `progress/env_steps`) to every logger at step `env_steps`, and keep them."""
        row = {**values, STEP_KEY: float(env_steps)}
        self._keep(row)
        for logger in self.loggers:
            logger.log_metrics(row, step=env_steps)

    def flush(self) -> None:
        """Have every logger write what it holds (the CSV logger writes its rows by time, `EnvStepCSVLogger`)."""
        for logger in self.loggers:
            logger.save()

    def _keep(self, row: dict[str, float]) -> None:
        self.latest.update(row)
        if EVAL_KEY in row:
            self.evaluations.append(row)
        if TRAINING_RETURN_KEY in row:
            self._keep_curve_point(row[STEP_KEY], row[TRAINING_RETURN_KEY])

    def _keep_curve_point(self, env_steps: float, value: float) -> None:
        self._curve_skipped += 1
        if self._curve_skipped < self._curve_stride:
            return
        self._curve_skipped = 0
        self.training_curve.append((env_steps, value))
        if len(self.training_curve) >= 2 * self.curve_points:
            self.training_curve = self.training_curve[1::2]
            self._curve_stride *= 2

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "latest": dict(self.latest),
            "evaluations": list(self.evaluations),
            "training_curve": [list(point) for point in self.training_curve],
            "curve_stride": self._curve_stride,
            "curve_skipped": self._curve_skipped,
            "phase_seconds": dict(self.phase_seconds),
        }

    def load_history(self, history: list[dict[str, float]]) -> None:
        """The state of a checkpoint written before `Metrics` (its whole `history` of rows, counters then filed
        under `time/`)."""
        renamed = {
            "time/env_steps": STEP_KEY,
            "time/episodes": "progress/episodes",
            "time/rollouts": "progress/rollouts",
        }
        for row in history:
            self._keep({renamed.get(key, key): value for key, value in row.items()})

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.latest = dict(state.get("latest", {}))
        self.evaluations = list(state.get("evaluations", []))
        self.training_curve = [tuple(point) for point in state.get("training_curve", [])]
        self._curve_stride = int(state.get("curve_stride", 1))
        self._curve_skipped = int(state.get("curve_skipped", 0))
        self.phase_seconds = dict.fromkeys(PHASES, 0.0) | dict(state.get("phase_seconds", {}))
