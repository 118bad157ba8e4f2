"""`run(cfg)` of `evaluate.py`: play a trained checkpoint and report its episode returns.

The env and the policy are rebuilt from the run's config that the checkpoint carries (`pglab_config`, the
resolved config of the run that wrote it), so a checkpoint copied anywhere on its own still evaluates; a
checkpoint written before checkpoints carried it uses its run dir's `config.yaml` (the run dir holds
`checkpoints/`). A checkpoint whose config disagrees with the `config.yaml` of the run dir it lies in (another
run's checkpoint copied there) is refused with the differing keys. The weights are read with
`torch.load(weights_only=True)`, which restores tensors and plain containers only and never runs code from the
file. Episodes are seeded as the training run's evaluations (`seed + i`, by default the run seed + 1_000_000), so
evaluating `last.ckpt` with the same number of episodes reproduces the final evaluation logged by training.

`push_to_hub=ORG/NAME` also writes the agent's Hub folder and uploads it; `from_hub=ORG/NAME` (or a folder it wrote)
evaluates such a folder instead of a checkpoint, its network rebuilt from its `config.yaml` (`pglab.hub`, imported
only then: huggingface_hub reads its `HF_*` variables when it is imported).
"""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from pglab.atomic import atomic_path, storage_error
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


def build_policy(
    run_cfg: DictConfig,
    weights: dict[str, torch.Tensor],
    observation_space: Any,
    action_space: Any,
    device: str,
    key: str,
    source: str,
) -> ActorCritic:
    """The run's policy network, built for the env's spaces, with `weights` (its state_dict); a ConfigError
    naming the input (`key`, e.g. `ckpt_path=...`) and the parameters that differ (one line, no tensor dump) if
    they do not fit the network `source` describes."""
    try:
        algo_class = get_class(run_cfg.algo._target_)
        policy: ActorCritic = instantiate(run_cfg.network)(
            observation_space, action_space, with_critic=algo_class.needs_critic
        )
    except (InstantiationException, ImportError) as error:
        raise ConfigError(
            f"{key}: the network of {source} cannot be built: {str(error).splitlines()[0]}"
        ) from None
    differences = weight_differences(policy.state_dict(), weights)
    if differences:
        more = len(differences) - SHOWN_DIFFERENCES
        shown = "; ".join(differences[:SHOWN_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
        raise ConfigError(f"{key}: its weights do not fit the network of {source}: {shown}")
    policy.load_state_dict(weights)
    return policy.to(device).eval()


@dataclass
class Agent:
    """What evaluation needs of a trained agent, read from a checkpoint or from a Hub folder (`pglab.hub`)."""

    config: DictConfig  #: the resolved config of the run that trained it
    weights: dict[str, torch.Tensor]  #: the policy network's state_dict (actor and critic)
    normalization: dict[str, Any]  #: observation statistics, as `normalization_state` writes them
    env_steps: int | None  #: env steps trained
    key: str  #: the input as messages name it: `ckpt_path=<path>`, `from_hub=<repo or dir>`
    origin: dict[str, str]  #: what the results JSON records of the input (`checkpoint: <path>`, ...)
    source: str  #: where `config` comes from (named when the weights do not fit it)
    out_dir: Path  #: where the results JSON and videos go by default
    name: str  #: their file name prefix
    run_dir: Path | None  #: the training run's dir, when known (its learning curve and Hydra's launch record)


def checkpoint_agent(ckpt_path: Path) -> Agent:
    """The agent of a pglab checkpoint: its weights, normalization statistics and run config."""
    checkpoint = load_checkpoint(ckpt_path, training_state=False)
    run_cfg = run_config(ckpt_path, checkpoint)
    beside = find_run_config(ckpt_path)
    source = "the checkpoint's config" if checkpoint.get("pglab_config") else str(beside)
    collector = checkpoint.get("collector", {})
    return Agent(
        config=run_cfg,
        weights={
            k.removeprefix("policy."): v
            for k, v in checkpoint["state_dict"].items()
            if k.startswith("policy.")
        },
        normalization=collector.get("normalization", {}),
        env_steps=collector.get("env_steps"),
        key=f"ckpt_path={ckpt_path}",
        origin={"checkpoint": str(ckpt_path)},
        source=source,
        out_dir=ckpt_path.parent,
        name=ckpt_path.stem,
        run_dir=beside.parent if beside is not None else None,
    )


def check_inputs(cfg: DictConfig) -> None:
    """Exactly one of ckpt_path and from_hub; push_to_hub takes a checkpoint."""
    if cfg.ckpt_path is None and cfg.from_hub is None:
        raise ConfigError(
            "ckpt_path is required: python evaluate.py ckpt_path=<run dir>/checkpoints/last.ckpt "
            "(or from_hub=ORG/NAME for an agent shared on the Hugging Face Hub)"
        )
    if cfg.ckpt_path is not None and cfg.from_hub is not None:
        raise ConfigError(
            f"ckpt_path={cfg.ckpt_path} and from_hub={cfg.from_hub} both name an agent to evaluate; give one"
        )
    if cfg.push_to_hub is not None and cfg.from_hub is not None:
        raise ConfigError(
            f"push_to_hub={cfg.push_to_hub} shares a checkpoint: give ckpt_path=..., not from_hub (a Hub folder "
            "uploads as it is: hf upload ORG/NAME DIR)"
        )


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
    """Evaluate `cfg.ckpt_path` (or the Hub folder `cfg.from_hub`); returns the result (also written as JSON next
    to the checkpoint). With `cfg.push_to_hub`, the agent's Hub folder is written and uploaded after."""
    check_inputs(cfg)
    check_range("episodes", cfg.episodes, 1)
    check_range("video_episodes", cfg.video_episodes, 1, cfg.episodes)
    check_device(cfg.device)
    if cfg.from_hub is not None or cfg.push_to_hub is not None:
        # imported only then: huggingface_hub reads HF_ENDPOINT, HF_HOME, ... when it is imported
        from pglab import hub
    if cfg.from_hub is not None:
        agent = hub.load_agent(str(cfg.from_hub))
        out_dir = Path(cfg.hub.eval_dir).expanduser().resolve() if cfg.hub.eval_dir else agent.out_dir
    else:
        agent = checkpoint_agent(Path(cfg.ckpt_path).expanduser().resolve())
        out_dir = agent.out_dir
    # The repo id, the token and the folder are checked before the episodes are played.
    push = hub.prepare_push(str(cfg.push_to_hub), cfg.hub, agent) if cfg.push_to_hub is not None else None
    run_cfg = agent.config
    seed = cfg.seed
    if seed is None:
        seed = OmegaConf.select(run_cfg, "callbacks.evaluation.seed", default=run_cfg.seed) + EVAL_SEED_OFFSET
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(out_dir, error) from error
    out = out_dir / f"{agent.name}-eval-{datetime.now():%Y%m%d-%H%M%S-%f}"

    record = cfg.video or push is not None  # the Hub folder's replay.mp4 is the first episode's video
    try:
        env = instantiate(run_cfg.env)(
            num_envs=cfg.episodes,
            evaluation=True,
            video_dir=out_dir if record else None,
            video_episodes=cfg.video_episodes if cfg.video else 1,
            video_prefix=out.name,
        )
    except InstantiationException as error:
        raise ConfigError(f"{agent.key}: its env cannot be built: {str(error).splitlines()[0]}") from None
    try:  # observation normalization statistics, as training left them
        load_normalization_state(env, agent.normalization)
    except ValueError as error:
        raise ConfigError(f"{agent.key} does not fit its run's env config: {error}") from None
    policy = build_policy(
        run_cfg,
        agent.weights,
        env.single_observation_space,
        env.single_action_space,
        cfg.device,
        agent.key,
        agent.source,
    )
    torch.manual_seed(seed)  # sampled actions (deterministic=false) repeat with the seed
    returns, lengths = evaluate_policy(policy, env, seed, cfg.deterministic)
    env.close()  # writes the videos

    algo = run_cfg.algo._target_.rsplit(".", 1)[-1]
    videos = [f"{out}-{i}-episode-0.mp4" for i in range(cfg.video_episodes)] if cfg.video else []
    result = {
        **agent.origin,
        "algo": algo,
        "env_id": run_cfg.env.id,
        "env_steps": agent.env_steps,
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
    if push is not None:
        replay = Path(f"{out}-0-episode-0.mp4")
        try:
            hub.push(push, agent, result, replay)
        finally:
            if not cfg.video:  # recorded for the folder only
                replay.unlink(missing_ok=True)
    return result
