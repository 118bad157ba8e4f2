"""Benchmark pglab against Stable-Baselines3, a plain PyTorch PPO and the env's own ceiling, and its torch env
backend against its gymnasium one, on this machine.

    python scripts/benchmark.py                # the full benchmark: thread calibration, 3 interleaved repeats,
                                               #   27-42 min on 2 cores, then the torch env backend's section
                                               #   (5 seeds, ~5-8 min)
    python scripts/benchmark.py --quick        # tiny budgets, one repeat: a smoke check of the harness (~5 min)
    python scripts/benchmark.py --repeats 5    # more repeats for tighter min-max ranges
    python scripts/benchmark.py --threads 1    # every framework with 1 torch thread, no calibration
    python scripts/benchmark.py --sweeps       # only the sweeps: basic, joblib and population launchers
                                               #   on the same sweeps (~40 min; docs/sweeps.md)
    python scripts/benchmark.py --sweeps reinforce24   # only the sweeps named (the report keeps the others)

What is measured and how: `python scripts/benchmark.py --help`, or the docstring of `pglab.benchmark`
(src/pglab/benchmark/__init__.py).
"""

import sys

from pglab.benchmark.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
