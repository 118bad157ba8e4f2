"""`run(cfg)` of `evaluate.py`: play a trained checkpoint and report its episode returns.

The env and the policy are rebuilt from the run's config that the checkpoint carries (`pglab_config`, the
resolved config of the run that wrote it), so a checkpoint copied anywhere on its own still evaluates; a
checkpoint written before checkpoints carried it uses its run dir's `config.yaml` (the run dir holds
`checkpoints/`). A checkpoint whose config disagrees with the `config.yaml` of the run dir it lies in (another
run's checkpoint copied there) is refused with the differing keys. The weights are read with
`torch.load(weights_only=True)`, which restores tensors and plain containers only and never runs code from the
file. Episodes are seeded as the training run's evaluations (`seed + i`, by default the run seed + 1_000_000), so
evaluating `last.ckpt` with the same number of episodes reproduces the final evaluation logged by training.
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

from pglab.atomic import atomic_path
from pglab.callbacks.evaluation import EVAL_SEED_OFFSET
from pglab.checks import check_range
from pglab.envs.normalization import load_normalization_state
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.resume import config_differences, load_checkpoint
from pglab.rollout.evaluation import evaluate_policy

log = logging.getLogger(__name__)

#: differing weights named in a "do not fit" message before "and N more"
SHOWN_DIFFERENCES = 4


def find_run_config(ckpt_path: Path) -> Path | None:
    """The `config.yaml` of the run dir `ckpt_path` lies in (`<run dir>/checkpoints/<x>.ckpt`, or beside it)."""
    for directory in (ckpt_path.parent.parent, ckpt_path.parent):
        if (directory / "config.yaml").is_file():
            return directory / "config.yaml"
    return None


def load_run_config(path: Path) -> DictConfig | None:
    """`path` as a pglab run config; None for a YAML file that is not one (no algo and env sections)."""
    try:
        cfg = OmegaConf.load(path)
    except Exception:  # noqa: BLE001  (unreadable or not YAML: not a run config)
        return None
    sections = ("algo", "env")
    if not isinstance(cfg, DictConfig) or not all(isinstance(cfg.get(k), DictConfig) for k in sections):
        return None
    return cfg


def run_config(ckpt_path: Path, checkpoint: dict[str, Any]) -> DictConfig:
    """The config of the run that wrote the checkpoint: its own `pglab_config`, else its run dir's config.yaml."""
    saved = checkpoint.get("pglab_config")
    beside = find_run_config(ckpt_path)
    run_cfg = load_run_config(beside) if beside is not None else None
    if saved:
        saved_cfg = OmegaConf.create(saved)
        differences = config_differences(saved_cfg, run_cfg, "config.yaml") if run_cfg is not None else []
        if differences:
            raise ConfigError(
                f"ckpt_path={ckpt_path} was written by another run than {beside}: "
                + "; ".join(differences)
                + ". Move the checkpoint out of that run dir (it carries its own config)"
            )
        return saved_cfg
    if run_cfg is None:
        raise ConfigError(
            f"ckpt_path={ckpt_path}: the checkpoint carries no config (it was written before pglab "
            f"checkpoints did) and there is no run config.yaml in {ckpt_path.parent.parent} or "
            f"{ckpt_path.parent}; put it back in its run dir's checkpoints/"
        )
    return run_cfg


def weight_differences(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> list[str]:
    """Each parameter whose shape differs (`name: checkpoint 16x4, network 32x4`), is missing or is extra."""

    def shape(tensor: torch.Tensor) -> str:
        return "x".join(map(str, tensor.shape)) or "scalar"

    differences = [
        f"{name}: checkpoint {shape(found[name])}, network {shape(tensor)}"
        for name, tensor in expected.items()
        if name in found and found[name].shape != tensor.shape
    ]
    differences += [f"{name}: not in the checkpoint" for name in expected if name not in found]
    differences += [f"{name}: not in the network" for name in found if name not in expected]
    return differences


def load_policy(
    run_cfg: DictConfig, checkpoint: dict[str, Any], env: Any, device: str, ckpt_path: Path, source: str
) -> ActorCritic:
    """The run's policy network, built for `env`'s spaces, with the checkpoint's weights; a ConfigError naming
    the parameters that differ (one line, no tensor dump) if they do not fit the network `source` describes."""
    algo_class = get_class(run_cfg.algo._target_)
    policy: ActorCritic = instantiate(run_cfg.network)(
        env.single_observation_space, env.single_action_space, with_critic=algo_class.needs_critic
    )
    weights = {
        k.removeprefix("policy."): v for k, v in checkpoint["state_dict"].items() if k.startswith("policy.")
    }
    differences = weight_differences(policy.state_dict(), weights)
    if differences:
        more = len(differences) - SHOWN_DIFFERENCES
        shown = "; ".join(differences[:SHOWN_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
        raise ConfigError(f"ckpt_path={ckpt_path}: its weights do not fit the network of {source}: {shown}")
    policy.load_state_dict(weights)
    return policy.to(device).eval()


def check_device(device: str) -> None:
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a torch device; use cpu or cuda") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={device} was requested but PyTorch sees no CUDA GPU on this machine; use device=cpu"
        )


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt_path`; returns the result (also written as JSON next to the checkpoint)."""
    if OmegaConf.is_missing(cfg, "ckpt_path"):
        raise ConfigError(
            "ckpt_path is required: python evaluate.py ckpt_path=<run dir>/checkpoints/last.ckpt"
        )
    check_range("episodes", cfg.episodes, 1)
    check_range("video_episodes", cfg.video_episodes, 1, cfg.episodes)
    check_device(cfg.device)
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    checkpoint = load_checkpoint(ckpt_path, training_state=False)
    run_cfg = run_config(ckpt_path, checkpoint)
    source = "the checkpoint's config" if checkpoint.get("pglab_config") else str(find_run_config(ckpt_path))
    seed = cfg.seed
    if seed is None:
        seed = OmegaConf.select(run_cfg, "callbacks.evaluation.seed", default=run_cfg.seed) + EVAL_SEED_OFFSET
    out = ckpt_path.with_name(f"{ckpt_path.stem}-eval-{datetime.now():%Y%m%d-%H%M%S-%f}")

    env = instantiate(run_cfg.env)(
        num_envs=cfg.episodes,
        evaluation=True,
        video_dir=ckpt_path.parent if cfg.video else None,
        video_episodes=cfg.video_episodes,
        video_prefix=out.name,
    )
    try:  # observation normalization statistics, as training left them
        load_normalization_state(env, checkpoint.get("collector", {}).get("normalization", {}))
    except ValueError as error:
        raise ConfigError(f"ckpt_path={ckpt_path} does not fit its run's env config: {error}") from None
    policy = load_policy(run_cfg, checkpoint, env, cfg.device, ckpt_path, source)
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
    with atomic_path(f"{out}.json") as tmp:  # StorageError naming the file if it cannot be written
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "%s on %s, %s env steps: %d %s episodes: return %.2f ± %.2f, mean − std %.2f; results %s.json%s",
        algo,
        run_cfg.env.id,
        f"{result['env_steps']:,}" if result["env_steps"] is not None else "?",
        cfg.episodes,
        "deterministic" if cfg.deterministic else "sampled",
        result["episode_return_mean"],
        result["episode_return_std"],
        result["score_mean_minus_std"],
        out,
        "; video " + ", ".join(videos) if videos else "",
    )
    return result
