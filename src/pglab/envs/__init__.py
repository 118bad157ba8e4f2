"""Environment construction: the vector env factory, normalization wrappers and pglab's native envs.

Importing this package registers the native envs with gymnasium:
- `pglab/PixelCopter-v0`: PLE's PixelCopter (`pglab.envs.pixelcopter`), 10,000-step time limit as the Hugging
  Face course's `max_t`.
- `pglab/PongPLE-v0`: PLE's Pong (`pglab.envs.pong_ple`), the course's `Pong-PLE-v0`, with a 10,000-step time
  limit (`gym_pygame` registers it with none).
"""

import os

import gymnasium as gym

# pygame (the classic-control renderers behind videos) initializes SDL's audio and video drivers, which print
# "XDG_RUNTIME_DIR is invalid" on a headless machine; pglab renders to arrays only. Set before pygame starts, and
# inherited by async env workers.
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

gym.register(
    id="pglab/PixelCopter-v0", entry_point="pglab.envs.pixelcopter:PixelCopterEnv", max_episode_steps=10_000
)
gym.register(id="pglab/PongPLE-v0", entry_point="pglab.envs.pong_ple:PongPLEEnv", max_episode_steps=10_000)
