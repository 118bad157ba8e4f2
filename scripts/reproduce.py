"""Write or check a results record: `python scripts/reproduce.py ppo_cartpole --seeds 0,1,2` (see --help)."""

import sys

from pglab.results.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
