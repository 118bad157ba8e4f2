"""`run(cfg)` of `evaluate.py`: play a trained checkpoint and report its episode returns.

The env and the policy are rebuilt from the run's own `config.yaml` (the run dir holds `checkpoints/`), the
weights are read with `torch.load(weights_only=True)`, which restores tensors and plain containers only and
never runs code from the file. Episodes are seeded as the training run's evaluations (`seed + i`, by default
the run seed + 1_000_000), so evaluating `last.ckpt` with the same number of episodes reproduces the final
evaluation logged by training.
"""

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from pglab.algos.base import check_range
from pglab.callbacks.evaluation import EVAL_SEED_OFFSET
from pglab.envs.normalization import load_normalization_state
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.resume import load_checkpoint
from pglab.rollout.evaluation import evaluate_policy

log = logging.getLogger(__name__)


def find_run_config(ckpt_path: Path) -> Path:
    """The `config.yaml` of the run that wrote `ckpt_path` (`<run dir>/checkpoints/<x>.ckpt`)."""
    for directory in (ckpt_path.parent.parent, ckpt_path.parent):
        if (directory / "config.yaml").is_file():
            return directory / "config.yaml"
    raise ConfigError(f"ckpt_path={ckpt_path}: no config.yaml in {ckpt_path.parent.parent} or {ckpt_path.parent}; "
                      "evaluate.py rebuilds the env and policy from the run dir's config.yaml")  # fmt: skip


def load_policy(run_cfg: DictConfig, checkpoint: dict[str, Any], env: Any, device: str) -> ActorCritic:
    """The run's policy network, built for `env`'s spaces, with the checkpoint's weights."""
    algo_class = get_class(run_cfg.algo._target_)
    policy: ActorCritic = instantiate(run_cfg.network)(
        env.single_observation_space, env.single_action_space, with_critic=algo_class.needs_critic
    )
    weights = {k.removeprefix("policy."): v for k, v in checkpoint["state_dict"].items() if k.startswith("policy.")}
    try:
        policy.load_state_dict(weights)
    except RuntimeError as error:
        raise ConfigError(f"the weights in the checkpoint do not fit the network of the run's config.yaml: {error}") from None
    return policy.to(device).eval()


def check_device(device: str) -> None:
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a torch device; use cpu or cuda") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device} was requested but PyTorch sees no CUDA GPU on this machine; use device=cpu")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt_path`; returns the result (also written as JSON next to the checkpoint)."""
    check_range("episodes", cfg.episodes, 1)
    check_range("video_episodes", cfg.video_episodes, 1, cfg.episodes)
    check_device(cfg.device)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    checkpoint = load_checkpoint(ckpt_path, training_state=False)
    run_cfg = OmegaConf.load(find_run_config(ckpt_path))
    seed = cfg.seed
    if seed is None:
        seed = OmegaConf.select(run_cfg, "callbacks.evaluation.seed", default=run_cfg.seed) + EVAL_SEED_OFFSET
    out = ckpt_path.with_name(f"{ckpt_path.stem}-eval-{datetime.now():%Y%m%d-%H%M%S-%f}")

    env = instantiate(run_cfg.env)(num_envs=cfg.episodes, evaluation=True, video_dir=ckpt_path.parent if cfg.video else None,
                                   video_episodes=cfg.video_episodes, video_prefix=out.name)  # fmt: skip
    try:  # observation normalization statistics, as training left them
        load_normalization_state(env, checkpoint.get("collector", {}).get("normalization", {}))
    except ValueError as error:
        raise ConfigError(f"ckpt_path={ckpt_path} does not fit its run's env config: {error}") from None
    policy = load_policy(run_cfg, checkpoint, env, cfg.device)
    torch.manual_seed(seed)  # sampled actions (deterministic=false) repeat with the seed
    returns, lengths = evaluate_policy(policy, env, seed, cfg.deterministic)
    env.close()  # writes the videos

    algo = run_cfg.algo._target_.rsplit(".", 1)[-1]
    videos = [f"{out}-{i}-episode-0.mp4" for i in range(cfg.video_episodes)] if cfg.video else []
    result = {
        "checkpoint": str(ckpt_path),
        "algo": algo,
        "env_id": run_cfg.env.id,
        "env_steps": checkpoint.get("collector", {}).get("env_steps"),
        "episodes": int(cfg.episodes),
        "deterministic": bool(cfg.deterministic),
        "seed": int(seed),
        "episode_return_mean": float(np.mean(returns)),
        "episode_return_std": float(np.std(returns)),
        "score_mean_minus_std": float(np.mean(returns) - np.std(returns)),
        "episode_length_mean": float(np.mean(lengths)),
        "returns": returns.tolist(),
        "lengths": lengths.tolist(),
        "videos": videos,
    }
    Path(f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "%s on %s, %s env steps: %d %s episodes: return %.2f ± %.2f, mean − std %.2f; results %s.json%s",
        algo, run_cfg.env.id, f"{result['env_steps']:,}" if result["env_steps"] is not None else "?", cfg.episodes,
        "deterministic" if cfg.deterministic else "sampled", result["episode_return_mean"],
        result["episode_return_std"], result["score_mean_minus_std"], out, "; video " + ", ".join(videos) if videos else "",
    )  # fmt: skip
    return result
