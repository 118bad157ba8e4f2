"""The children's clocks: the first call of a library method since process start, time inside methods, and the
split of a run's training time into its parts."""

import inspect
import os
import time

#: the parent's `time.time()` right before it started the child: the child's process start
START_TIME_ENV = "PGLAB_BENCH_START_TIME"
#: the parts of the training time in `time_breakdown`, with their report headings
BREAKDOWN = {
    "collect_s": "collection alone",
    "advantages_s": "advantages (pglab: and batching)",
    "update_s": "gradient updates",
    "other_s": "the rest: loop, callbacks, logging, checkpoints",
}
#: the parts that compare like for like across frameworks: SB3's `collect_rollouts` computes its GAE, so
#: collection means collection plus advantages on both sides
COLLECTION_PARTS = ("collect_s", "advantages_s")


def record_first_call(cls: type, method: str) -> dict[str, float]:
    """Wrap `cls.method` so that its first call stores the seconds since this process was started (by the
    parent's clock) under "s", then puts the original back (no cost on later calls)."""
    started = float(os.environ[START_TIME_ENV])
    original = getattr(cls, method)
    seen: dict[str, float] = {}

    def first_call(self, *args, **kwargs):
        seen["s"] = time.time() - started
        setattr(cls, method, original)
        return original(self, *args, **kwargs)

    setattr(cls, method, first_call)
    return seen


def timed_calls(cls: type, method: str, totals: dict[str, float], key: str) -> None:
    """Wrap `cls.method` so that the seconds spent in its calls add up in `totals[key]`. A generator method
    is timed while it runs, not while its consumer holds it (each `next` is timed)."""
    original = getattr(cls, method)
    totals.setdefault(key, 0.0)

    def timed_generator(iterator):
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                totals[key] += time.perf_counter() - start
                return
            totals[key] += time.perf_counter() - start
            yield item

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        totals[key] += time.perf_counter() - start
        return timed_generator(result) if inspect.isgenerator(result) else result

    setattr(cls, method, timed)


def time_breakdown(seconds: dict[str, float], train_s: float) -> dict[str, float]:
    """Seconds in collection, advantages, updates and the rest of `train_s` (evaluation already excluded);
    `seconds` holds the first three."""
    parts = {key: seconds[key] for key in ("collect_s", "advantages_s", "update_s")}
    return parts | {"other_s": train_s - sum(parts.values())}
