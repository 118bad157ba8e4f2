"""Stop cleanly on SIGINT (Ctrl-C) and SIGTERM (`kill`, a scheduler's preemption).

The first signal asks the module to stop at the end of the current update: `EnvStepCheckpoint` then writes
`last.ckpt`, the final evaluation is skipped, and the run's summary says `interrupted` (train.py exits
128 + the signal number). A second signal stops at once, without a new checkpoint (the previous one stays).

The handlers are installed in `setup`, so that a signal during the first rollout (collected before
`on_train_start`) also stops after the first update, and again in `on_train_start`: Lightning installs its own
SIGTERM handler when training starts (it ends the fit loop with a `SIGTERMException`, exit code 0, and no
checkpoint). The handlers to put back when training ends are the ones found in `setup`, before
Lightning's: Lightning restores its own originals first, and putting back its handler would leave a stale one.
"""

import logging
import signal
import threading

import lightning as L

from pglab.algos.base import PolicyGradientModule

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals(L.Callback):
    def __init__(self):
        self._previous: dict[int, object] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
            # From here, not only from on_train_start: the first rollout is collected before on_train_start, and a
            # Ctrl-C during it would otherwise end the run without a checkpoint (Lightning exits 1 on it).
            self._install(pl_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        self._install(pl_module)  # again: Lightning has put its own SIGTERM handler in since setup

    def _install(self, pl_module: PolicyGradientModule) -> None:
        if not self._previous:
            return

        def handler(signum: int, frame) -> None:
            if pl_module.stop_signal is not None:
                raise KeyboardInterrupt
            pl_module.stop_signal = signal.Signals(signum).name
            log.warning(
                "%s received: stopping after the current update (send it again to stop at once)",
                pl_module.stop_signal,
            )

        for sig in SIGNALS:
            signal.signal(sig, handler)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}
