"""A progress bar in env steps: Lightning's bars count batches, which means nothing for RL."""

import math

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from tqdm.auto import tqdm

from pglab.algos.base import PolicyGradientModule


class EnvStepProgressBar(ProgressBar):
    """Shows env steps out of `total_env_steps`, the recent episode return, the last eval and (tqdm's) steps/s.

    Args:
        total_env_steps: the run's env-step budget.
        refresh_every_env_steps: minimum env steps between redraws (keeps the bar cheap for A2C).
    """

    def __init__(self, total_env_steps: int, refresh_every_env_steps: int = 2_000):
        super().__init__()
        self.total_env_steps = int(total_env_steps)
        self.refresh_every_env_steps = int(refresh_every_env_steps)
        self._enabled = True
        self._bar: tqdm | None = None
        self._shown = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        if self._enabled and trainer.is_global_zero:
            self._shown = pl_module.collector.env_steps
            self._bar = tqdm(
                total=self.total_env_steps,
                initial=self._shown,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                desc="env steps",
            )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        steps = pl_module.collector.env_steps
        if self._bar is not None and steps - self._shown >= self.refresh_every_env_steps:
            self._refresh(pl_module, steps)

    def on_train_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        if self._bar is not None:
            steps = pl_module.collector.env_steps
            if steps >= self.total_env_steps:  # the last rollout ends past the budget: the bar ends at 100%
                self._bar.total = steps
            self._refresh(pl_module, steps)
            self._bar.close()
            self._bar = None

    def on_exception(
        self, trainer: L.Trainer, pl_module: PolicyGradientModule, exception: BaseException
    ) -> None:
        if self._bar is not None:  # end the bar's line, so the error is printed on a line of its own
            self._bar.close()
            self._bar = None

    def _refresh(self, pl_module: PolicyGradientModule, steps: int) -> None:
        metrics = pl_module.metrics.latest
        postfix = {}
        if not math.isnan(pl_module.collector.recent_return):
            postfix["return"] = f"{pl_module.collector.recent_return:.1f}"
        if "eval/episode_return_mean" in metrics:
            postfix["eval"] = f"{metrics['eval/episode_return_mean']:.1f}"
        self._bar.update(steps - self._shown)
        self._bar.set_postfix(postfix, refresh=True)
        self._shown = steps
