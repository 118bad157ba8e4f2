"""Loading checkpoints safely, checking that they fit the run, and the config of `resume=<run dir>`.

Checkpoints are read with `torch.load(weights_only=True)`: tensors, numbers, strings and containers only,
so a crafted file cannot run code. A pglab checkpoint also carries its run's resolved config
(`pglab_config`), which is compared with the run that wants to load it.
"""

import logging
import re
from pathlib import Path
from typing import Any

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from pglab.errors import ConfigError
from pglab.run_dir import check_resume_dir

#: config keys that must match between a checkpoint and the run loading it: they shape the networks, the
#: optimizer's state, the observations or the normalization statistics
MUST_MATCH = (
    "algo._target_",
    "algo.optimizer",
    "env.id",
    "env.kwargs",
    "env.atari_preprocessing",
    "env.frame_stack",
    "env.normalize_obs",
    "env.normalize_reward",
    "env.clip_reward",
    "env.num_envs",
    "network",
)
#: config groups; choosing another option of one of them is not a resume
GROUPS = (
    "algo",
    "env",
    "network",
    "accelerator",
    "logger",
    "trainer",
    "callbacks",
    "paths",
    "experiment",
    "hparams_search",
    "debug",
)

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path, key: str = "ckpt_path", training_state: bool = True) -> dict[str, Any]:
    """The checkpoint at `path`, loaded without unpickling arbitrary objects; ConfigError naming `key` when it
    does not exist, is not a checkpoint, or is not pglab's: policy weights, and with `training_state` the
    collector's state a run continues from."""
    path = Path(path)
    if not path.is_file():
        hint = (
            f"; checkpoints there: {', '.join(p.name for p in sorted(path.parent.glob('*.ckpt')))}"
            if list(path.parent.glob("*.ckpt"))
            else ""
        )
        raise ConfigError(f"{key}={path} does not exist{hint}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001  (any load failure means: not a loadable checkpoint)
        text = str(error)
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found:  # a pickle naming Python objects: refused before anything runs
            glob = found.group(1)
            reason = (
                f"it holds Python objects ({glob}) that pglab does not unpickle; pglab loads only tensors "
                "and plain values (torch.load(weights_only=True))"
            )
        else:
            reason = f"it is not a PyTorch checkpoint file ({type(error).__name__})"
        raise ConfigError(f"{key}={path} cannot be loaded: {reason}") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not state or not any(name.startswith("policy.") for name in state):
        raise ConfigError(f"{key}={path} is not a pglab checkpoint (no policy weights in its state_dict)")
    if training_state and "collector" not in checkpoint:
        raise ConfigError(
            f"{key}={path} is not a pglab training checkpoint (no collector state to continue from)"
        )
    return checkpoint


def _select(config: dict | DictConfig, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict | DictConfig) or part not in node:
            return None
        node = node[part]
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def config_differences(
    theirs: dict | DictConfig, ours: dict | DictConfig, ours_name: str = "this run"
) -> list[str]:
    """`key: checkpoint X, <ours_name> Y` for each `MUST_MATCH` key (each `network.*` key) whose value differs
    between a checkpoint's run config (`theirs`) and `ours`."""
    differences = []
    for dotted in MUST_MATCH:
        theirs_value, ours_value = _select(theirs, dotted), _select(ours, dotted)
        if dotted == "network" and isinstance(theirs_value, dict) and isinstance(ours_value, dict):
            differences += [
                f"network.{k}: checkpoint {theirs_value.get(k)!r}, {ours_name} {ours_value.get(k)!r}"
                for k in sorted(set(theirs_value) | set(ours_value))
                if theirs_value.get(k) != ours_value.get(k)
            ]
        elif theirs_value != ours_value:
            differences.append(f"{dotted}: checkpoint {theirs_value!r}, {ours_name} {ours_value!r}")
    return differences


def check_compatible(checkpoint: dict[str, Any], cfg: DictConfig, key: str = "ckpt_path") -> None:
    """ConfigError listing every `MUST_MATCH` key whose value differs between the checkpoint's run and `cfg`."""
    saved = checkpoint.get("pglab_config") or {}
    if not saved:
        return  # written before checkpoints carried their config; Lightning's load checks the tensor shapes
    differences = config_differences(saved, cfg)
    if differences:
        raise ConfigError(
            f"{key}={cfg.get(key) or cfg.get('resume')} comes from an incompatible config: "
            + "; ".join(differences)
        )


#: keys and values renamed since a run may have been saved: (old key, new key, {old value: new value})
RENAMED = (
    ("algo.standardize_returns", "algo.normalize_advantage", {}),  # REINFORCE
    ("algo.advantage", "algo.advantage", {"rtg": "reward_to_go"}),  # VPG
)


def with_current_names(saved: DictConfig) -> DictConfig:
    """`saved` with the keys and values of `RENAMED` under their current names (a run saved before a rename
    resumes with the same settings)."""
    for old, new, values in RENAMED:
        value = OmegaConf.select(saved, old, default="__missing__")
        if value == "__missing__":
            continue
        with open_dict(saved):
            if old != new:
                parent, _, leaf = old.rpartition(".")
                del OmegaConf.select(saved, parent)[leaf]
            OmegaConf.update(saved, new, values.get(value, value), force_add=True)
        log.info("resume: %s=%s of the saved config is now %s=%s", old, value, new, values.get(value, value))
    return saved


def resume_config(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """The config of `resume=<run dir>`: the run's own config with the command line's `key=value` overrides
    applied, `ckpt_path` set to the run's `checkpoints/last.ckpt`, writing into the run dir where it is now.

    The run's config is rebuilt from Hydra's unresolved record of its first launch (`.hydra/config.yaml`) plus
    the overrides of earlier resumes (`resume_overrides` in its `config.yaml`), so interpolations resolve
    afresh: paths point into the run dir even after it was moved, and an override reaches every value
    interpolated from it (`seed=...` also reseeds evaluation). Without that record, the resolved `config.yaml`
    is used, its paths moved to the run dir.
    """
    run_dir = Path(cfg.resume).expanduser()
    check_resume_dir(run_dir)
    resolved_path, ckpt = run_dir / "config.yaml", run_dir / "checkpoints" / "last.ckpt"
    resolved = OmegaConf.load(resolved_path)
    launch = run_dir / ".hydra" / "config.yaml"
    if launch.is_file():
        saved = OmegaConf.load(launch)
    else:
        saved = moved(resolved, str(resolved.paths.output_dir), str(run_dir))
    saved = with_current_names(saved)
    original_path = run_dir / ".hydra" / "overrides.yaml"
    original = set(OmegaConf.load(original_path)) if original_path.is_file() else set()
    earlier = list(resolved.get("resume_overrides") or [])
    applied = []
    for override in OverridesParser.create().parse_overrides(earlier + overrides):
        name = override.key_or_group
        if (
            name in ("resume", "ckpt_path", "resume_overrides")
            or name.startswith("hydra")
            or override.input_line in original
        ):
            continue  # the run's own launch options, repeated
        if name in GROUPS or override.is_delete() or override.package:
            raise ConfigError(
                f"resume={run_dir} continues the saved config; {override.input_line} would change "
                "its structure. Start a new run (ckpt_path=... loads weights into a new config)"
            )
        if not override.is_add() and OmegaConf.select(saved, name, default="__missing__") == "__missing__":
            raise ConfigError(f"{name} is not a key of the run's config ({resolved_path})")
        with open_dict(saved):
            OmegaConf.update(saved, name, override.value(), force_add=override.is_add())
        applied.append(override.input_line)
    with open_dict(saved):
        saved.resume = str(run_dir)
        saved.ckpt_path = str(ckpt)
        saved.paths.output_dir = str(run_dir)
        saved.resume_overrides = applied
    return saved


def moved(config: DictConfig, old_dir: str, new_dir: str) -> DictConfig:
    """`config` with every string that starts with `old_dir` starting with `new_dir` instead."""

    def move(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: move(v) for k, v in node.items()}
        if isinstance(node, list):
            return [move(v) for v in node]
        if isinstance(node, str) and (node == old_dir or node.startswith(old_dir.rstrip("/") + "/")):
            return new_dir + node[len(old_dir) :]
        return node

    return OmegaConf.create(move(OmegaConf.to_container(config, resolve=False)))
