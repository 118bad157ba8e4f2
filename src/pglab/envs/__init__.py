"""Environment construction: the vector env factory, normalization wrappers and pglab's native envs.

Importing this package registers the native envs with gymnasium:
- `pglab/PixelCopter-v0`: PLE's PixelCopter (`pglab.envs.pixelcopter`), 10,000-step time limit as the Hugging
  Face course's `max_t`.
"""

import gymnasium as gym

gym.register(id="pglab/PixelCopter-v0", entry_point="pglab.envs.pixelcopter:PixelCopterEnv", max_episode_steps=10_000)
