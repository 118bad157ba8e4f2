"""Which env backend collects faster, per env and number of sub-envs (the evidence behind each env option's
default `env.vectorization`): `python scripts/backends.py [--repeats 3]` writes docs/backends.json, and
`python scripts/reproduce.py --docs` the README's table from it. About 2 minutes on 2 cores; run it alone.
See `pglab.benchmark.backends`."""

import argparse
from pathlib import Path

from pglab.benchmark.backends import markdown, write

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="timed rollouts per backend and case")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "backends.json"
    )
    args = parser.parse_args()
    print(markdown(write(args.out, args.repeats)))
