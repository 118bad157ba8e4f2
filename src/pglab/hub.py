"""Share a trained agent on the Hugging Face Hub, and load one back: `evaluate.py push_to_hub=ORG/NAME` and
`evaluate.py from_hub=ORG/NAME|DIR`.

A Hub folder holds:

- `model.safetensors`: the policy network's state_dict (actor and critic) as `policy.<name>` tensors, and the
  observation-normalization statistics as `normalization.obs_rms.{mean,var,count}` when the run normalized
  observations. safetensors holds tensors only: loading it runs no code (no pickle).
- `config.yaml`: the resolved config of the run that trained it. The network is rebuilt from it (the `network`
  and `algo` sections, the env's spaces) and the weights are loaded into it; nothing is unpickled.
- `results.json`: the evaluation the folder was written with (`evaluate.py`'s result without local paths), the
  env's leaderboard name, the pglab version and the date.
- `replay.mp4` (the first evaluation episode), `learning_curve.png` (the run's, when its run dir has one), and
  `README.md`: the model card, whose metadata the Hub and the Deep RL course's leaderboard read (`library_name`,
  tags, and a `model-index` with `mean_reward` as "mean +/- std").

The folder is written complete beside its final place and then moved there, so an upload that fails leaves it
whole (`hf upload ORG/NAME DIR` uploads it later). The token (`HF_TOKEN` or `hf auth login`) is passed to
huggingface_hub and never written or logged. Hub failures become one line: a `ConfigError` (exit 2) for what the
user gave (a repo id of the wrong form, no token, a repo or folder that does not exist, a folder that is not a
pglab Hub folder) and a `HubError` (exit 1) for a Hub that cannot be reached or refuses a request.
"""

import json
import logging
import os
import shlex
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import (
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    constants,
    get_token,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import pglab
from pglab.atomic import storage_error
from pglab.envs.factory import env_spaces
from pglab.errors import ConfigError, HubError
from pglab.evaluate import Agent, build_policy, load_run_config
from pglab.networks.actor_critic import ActorCritic

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
RESULTS_FILE = "results.json"
REPLAY_FILE = "replay.mp4"
CURVE_FILE = "learning_curve.png"
CARD_FILE = "README.md"
#: every file a Hub folder may hold (the learning curve only when the run dir had one)
FOLDER_FILES = (WEIGHTS_FILE, CONFIG_FILE, RESULTS_FILE, REPLAY_FILE, CURVE_FILE, CARD_FILE)
#: what `from_hub=ORG/NAME` downloads: evaluation needs neither the video nor the plot
DOWNLOADED = (WEIGHTS_FILE, CONFIG_FILE, RESULTS_FILE, CARD_FILE)
POLICY_PREFIX = "policy."
OBS_RMS_PREFIX = "normalization.obs_rms."
#: pglab's env ids that the Deep RL course's leaderboard knows under another name (its PLE games, as
#: `gym_pygame` registers them); any other env is named by its gymnasium id
LEADERBOARD_ENV_NAMES = {"pglab/PixelCopter-v0": "Pixelcopter-PLE-v0", "pglab/PongPLE-v0": "Pong-PLE-v0"}
#: experiment presets named `<name>_hf` reproduce the Hugging Face Deep RL course (tagged `deep-rl-class`)
COURSE_PRESET_SUFFIX = "_hf"
#: where `from_hub=ORG/NAME` writes its results and videos without `hub.eval_dir`
FROM_HUB_DIR = Path("outputs") / "from_hub"
#: the results keys of `evaluate.py` that a Hub folder's results.json keeps (not the local paths)
RESULT_KEYS = (
    "env_id",
    "algo",
    "episode_return_mean",
    "episode_return_std",
    "score_mean_minus_std",
    "episodes",
    "deterministic",
    "seed",
    "env_steps",
    "episode_length_mean",
    "returns",
    "lengths",
)


def leaderboard_env_name(env_id: str) -> str:
    """The env's name on the Hugging Face leaderboard (`Pixelcopter-PLE-v0` for `pglab/PixelCopter-v0`)."""
    return LEADERBOARD_ENV_NAMES.get(env_id, env_id)


def check_repo_id(repo_id: str, key: str) -> str:
    """`repo_id` if it is a Hub model repo id `ORG/NAME`; else a ConfigError naming `key` and the rule."""
    reason = None
    if repo_id.count("/") != 1:
        reason = "it must be ORG/NAME: a user or organization, one slash, a repo name"
    else:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            reason = str(error).split(":")[0].rstrip(".")  # huggingface_hub's rule, without the id it repeats
    if reason is not None:
        raise ConfigError(
            f"{key}={repo_id!r} is not a Hub repo id: {reason}; write e.g. {key}=your-name/ppo-CartPole-v1"
        )
    return repo_id


# --- push_to_hub ------------------------------------------------------------------------------------------------


@dataclass
class Push:
    """A checked `push_to_hub`: where the folder goes and, when it is uploaded, with which token."""

    repo_id: str
    folder: Path
    upload: bool
    private: bool
    token: str | None = field(repr=False)  #: never written, logged or put in a message


def prepare_push(repo_id: str, options: DictConfig, agent: Agent) -> Push:
    """The checked `push_to_hub=repo_id` with the `hub.*` options, before any episode is played: a ConfigError for
    a repo id of the wrong form, no token while `hub.upload=true`, or a `hub.local_dir` that holds other files."""
    check_repo_id(repo_id, "push_to_hub")
    token = None
    if options.upload:
        token = get_token()  # HF_TOKEN, else the token `hf auth login` stored
        if not token:
            raise ConfigError(
                f"push_to_hub={repo_id} needs a Hugging Face token with write access: set HF_TOKEN or run "
                "`hf auth login` (or hub.upload=false to write the folder only)"
            )
    home = agent.run_dir if agent.run_dir is not None else agent.out_dir
    folder = (
        Path(options.local_dir).expanduser().resolve()
        if options.local_dir
        else home / "hub" / repo_id.replace("/", "--")
    )
    check_local_dir(folder)
    return Push(repo_id, folder, bool(options.upload), bool(options.private), token)


def check_local_dir(folder: Path) -> None:
    """ConfigError unless `folder` is absent, empty, or a Hub folder pglab wrote (which a new push replaces)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ConfigError(f"hub.local_dir={folder} is a file; give a dir for the Hub folder")
    others = sorted(p.name for p in folder.iterdir() if p.name not in FOLDER_FILES)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise ConfigError(
            f"hub.local_dir={folder} holds other files than a pglab Hub folder ({shown}) and a push replaces "
            "the whole dir; choose a new or empty dir"
        )


def push(push: Push, agent: Agent, result: dict[str, Any], replay: Path) -> None:
    """Write the Hub folder of `agent` evaluated as `result` (its first episode's video `replay`), then upload it
    unless `hub.upload=false`."""
    results = hub_results(push.repo_id, result)
    curve = agent.run_dir / CURVE_FILE if agent.run_dir is not None else None
    if curve is None or not curve.is_file():
        log.warning("No %s in the run dir: the Hub folder has no learning curve", CURVE_FILE)
        curve = None
    experiment, command = launch_record(agent.run_dir)
    card = model_card(push.repo_id, results, agent.config, command, experiment, has_curve=curve is not None)
    files = {
        WEIGHTS_FILE: lambda path: save_weights(path, agent.weights, agent.normalization, results),
        CONFIG_FILE: lambda path: OmegaConf.save(agent.config, path, resolve=True),
        RESULTS_FILE: lambda path: path.write_text(json.dumps(results, indent=2) + "\n"),
        REPLAY_FILE: lambda path: shutil.copyfile(replay, path),
        **({CURVE_FILE: lambda path: shutil.copyfile(curve, path)} if curve is not None else {}),
        CARD_FILE: lambda path: card.save(path),
    }
    write_folder(push.folder, files)
    log.info("Hub folder %s: %s", push.folder, ", ".join(files))
    if push.upload:
        upload(push, results)
    else:
        log.info(
            "Not uploaded (hub.upload=false); upload it with: hf upload %s %s", push.repo_id, push.folder
        )


def hub_results(repo_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """results.json: `evaluate.py`'s result without local paths, plus the repo, the leaderboard's env name, the
    pglab version and the date."""
    return {
        "repo_id": repo_id,
        "leaderboard_env": leaderboard_env_name(result["env_id"]),
        **{key: result[key] for key in RESULT_KEYS},
        "pglab_version": pglab.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save_weights(
    path: Path, weights: dict[str, torch.Tensor], normalization: dict[str, Any], results: dict
) -> None:
    """model.safetensors: the network's tensors (`policy.*`) and the observation statistics (`normalization.*`).

    Each tensor is copied: a shared trunk's state_dict names one tensor twice, which safetensors refuses."""
    tensors = {POLICY_PREFIX + name: tensor.detach().cpu().clone() for name, tensor in weights.items()}
    if "obs_rms" in normalization:
        obs_rms = normalization["obs_rms"]
        for name in ("mean", "var"):
            tensors[OBS_RMS_PREFIX + name] = torch.as_tensor(obs_rms[name], dtype=torch.float64).clone()
        tensors[OBS_RMS_PREFIX + "count"] = torch.tensor(float(obs_rms["count"]), dtype=torch.float64)
    metadata = {"format": "pt", "library": "pglab", "pglab_version": pglab.__version__}
    save_file(tensors, str(path), metadata=metadata | {"env_id": results["env_id"], "algo": results["algo"]})
    path.chmod(0o644)  # safetensors writes owner-only (0600); the folder's other files are world-readable


def write_folder(folder: Path, files: dict[str, Any]) -> None:
    """Write each of `files` (name -> a function writing that file's path) into a new dir beside `folder`, then
    put it in `folder`'s place (a previous Hub folder there is replaced): `folder` is complete or untouched. An
    OSError becomes a StorageError naming the file."""
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    previous = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    name = ""
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, write in files.items():
            write(staging / name)
        name = ""
        if folder.exists():
            os.replace(folder, previous)
        os.replace(staging, folder)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if previous.exists() and not folder.exists():
            os.replace(previous, folder)  # the previous folder is kept
        if isinstance(
            error, OSError | SafetensorError
        ):  # safetensors reports a failed write as its own error
            raise storage_error(folder / name if name else folder, error) from error
        raise
    shutil.rmtree(previous, ignore_errors=True)


def upload(push: Push, results: dict[str, Any]) -> None:
    """`create_repo(exist_ok=True)` and `upload_folder` to `push.repo_id`; a HubError naming the cause and the
    complete folder left behind if the Hub cannot be reached or refuses."""
    endpoint = constants.ENDPOINT
    later = (
        f"the folder {push.folder} is complete: upload it later with `hf upload {push.repo_id} {push.folder}`"
    )
    api = HfApi(endpoint=endpoint, token=push.token)
    try:
        api.create_repo(push.repo_id, repo_type="model", exist_ok=True, private=push.private or None)
        api.upload_folder(
            repo_id=push.repo_id,
            repo_type="model",
            folder_path=push.folder,
            commit_message=(
                f"pglab: {results['algo']} on {results['leaderboard_env']}, mean_reward "
                f"{results['episode_return_mean']:.2f} +/- {results['episode_return_std']:.2f}"
            ),
        )
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        reason = {
            401: "the Hub refused the token (401 Unauthorized): set a valid HF_TOKEN or run `hf auth login`",
            403: f"the token may not write to {push.repo_id} (403 Forbidden): use a token with write access to "
            "that user or organization",
        }.get(status, f"{endpoint} refused the upload: {first_line(error)}")
        raise HubError(f"push_to_hub={push.repo_id}: {reason}; {later}") from None
    except Exception as error:  # noqa: BLE001  (huggingface_hub's HTTP client raises its own transport errors)
        raise transfer_failure(
            f"push_to_hub={push.repo_id}", endpoint, "upload to", error, f"; {later}"
        ) from None
    log.info("Uploaded to %s/%s", endpoint, push.repo_id)


def launch_record(run_dir: Path | None) -> tuple[str | None, str | None]:
    """The experiment preset and the `python train.py ...` command of the run's first launch, from Hydra's record
    in `<run dir>/.hydra/overrides.yaml`; (None, None) without one (a checkpoint copied alone)."""
    record = run_dir / ".hydra" / "overrides.yaml" if run_dir is not None else None
    if record is None or not record.is_file():
        return None, None
    overrides = [str(line) for line in OmegaConf.load(record)]
    experiment = next(
        (line.split("=", 1)[1] for line in overrides if line.split("=", 1)[0].lstrip("+") == "experiment"),
        None,
    )
    return experiment, shlex.join(["python", "train.py", *overrides])


def model_card(
    repo_id: str,
    results: dict[str, Any],
    config: DictConfig,
    command: str | None,
    experiment: str | None,
    has_curve: bool,
) -> ModelCard:
    """The model card: metadata for the Hub and the leaderboard (library, tags, `model-index` with `mean_reward`
    as "mean +/- std" on the env's leaderboard name) and a text with the evaluation, the training command, the
    hyperparameters and how to load the agent."""
    env_name, algo = results["leaderboard_env"], results["algo"]
    mean, std = results["episode_return_mean"], results["episode_return_std"]
    course = experiment is not None and experiment.endswith(COURSE_PRESET_SUFFIX)
    tags = [env_name, algo.lower(), "reinforcement-learning", "pglab"] + (["deep-rl-class"] if course else [])
    data = ModelCardData(
        library_name="pglab",
        tags=tags,
        model_name=repo_id.split("/")[1],
        eval_results=[
            EvalResult(
                task_type="reinforcement-learning",
                task_name="reinforcement-learning",
                dataset_type=env_name,
                dataset_name=env_name,
                metric_type="mean_reward",
                metric_name="mean_reward",
                metric_value=f"{mean:.2f} +/- {std:.2f}",
            )
        ],
    )
    return ModelCard(
        f"---\n{data.to_yaml()}\n---\n\n{card_text(repo_id, results, config, command, experiment, has_curve)}"
    )


def card_text(
    repo_id: str,
    results: dict[str, Any],
    config: DictConfig,
    command: str | None,
    experiment: str | None,
    has_curve: bool,
) -> str:
    """The card's Markdown: what the agent is, its evaluation, how it was trained, and how to load it."""
    env_name, algo, env_id = results["leaderboard_env"], results["algo"], results["env_id"]
    named = f"`{env_name}` (pglab's `{env_id}`)" if env_name != env_id else f"`{env_id}`"
    actions = (
        "greedy actions (argmax, or the Gaussian mean: pglab's default, `deterministic=true`)"
        if results["deterministic"]
        else "actions sampled from the policy (`deterministic=false`, as the Deep RL course's evaluation)"
    )
    steps = f"{results['env_steps']:,}" if results["env_steps"] is not None else "an unknown number of"
    if command is None:
        trained = (
            "The launch command was not recorded (no `.hydra/overrides.yaml` in the run dir); `config.yaml` holds "
            "every setting of the run."
        )
    else:
        trained = f"```bash\n{command}\n```" + (
            f"\n\n(experiment preset `{experiment}`.)" if experiment else ""
        )
    if config.get("resume_overrides"):
        resumed = "python train.py resume=<run dir> " + shlex.join(map(str, config.resume_overrides))
        trained += f"\n\nIt was then resumed with `{resumed}`."
    hyperparameters = {key: readable(config.get(key)) for key in ("algo", "network", "env")} | {
        "seed": config.get("seed"),
        "total_env_steps": config.get("total_env_steps"),
    }
    normalized = (
        "\n\nThe run normalized observations: the policy expects them normalized with the statistics in "
        "`model.safetensors` (`normalization.obs_rms.*`), which `load_agent` returns and `evaluate.py` applies."
        if OmegaConf.select(config, "env.normalize_obs", default=False)
        else ""
    )
    curve = "\n\n![learning curve](learning_curve.png)" if has_curve else ""
    return f"""# {algo} agent playing {env_name}

A {algo} agent trained with pglab (policy-gradient RL on PyTorch Lightning, Hydra and Gymnasium) on {named}
for {steps} env steps.

## Evaluation

| episodes | actions | seed of episode 0 | mean return | std | mean − std |
|---|---|---|---|---|---|
| {results["episodes"]} | {"greedy" if results["deterministic"] else "sampled"} | {results["seed"]} | {results["episode_return_mean"]:.2f} | {results["episode_return_std"]:.2f} | {results["score_mean_minus_std"]:.2f} |

Evaluated with {actions}, episode `i` reset with seed `{results["seed"]} + i`; `results.json` holds every
episode's return and length. The leaderboard's score is mean − std (`mean_reward` above is "mean +/- std");
`replay.mp4` is the first episode.{curve}

## Training

{trained}

Hyperparameters (`config.yaml` holds the whole resolved config):

```yaml
{OmegaConf.to_yaml(OmegaConf.create(hyperparameters)).rstrip()}
```

## Usage

Evaluate it (the network is rebuilt from `config.yaml` and loaded from `model.safetensors`; no pickle):

```bash
python evaluate.py from_hub={repo_id} video=true
```

or load the policy in Python:

```python
import torch
from pglab.hub import load_policy

policy = load_policy("{repo_id}")  # pglab's ActorCritic, in eval mode
action = policy.deterministic_action(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))
```{normalized}

pglab {results["pglab_version"]}, {results["date"]}.
"""


def readable(node: Any) -> Any:
    """A config section without Hydra's `_target_` / `_partial_` keys."""
    if not isinstance(node, DictConfig):
        return node
    return {
        k: readable(v) for k, v in OmegaConf.to_container(node, resolve=True).items() if not k.startswith("_")
    }


# --- from_hub ---------------------------------------------------------------------------------------------------


def hub_folder(source: str) -> tuple[Path, str | None]:
    """The local folder of `source` (a dir, or a repo id downloaded through huggingface_hub's cache) and the repo
    id (None for a dir). ConfigError for a missing dir or repo or a repo id of the wrong form; HubError when the
    Hub cannot be reached and the cache has no copy."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if path.exists():
        raise ConfigError(
            f"from_hub={source} is a file; give a Hub folder (a dir push_to_hub wrote) or ORG/NAME"
        )
    if source.startswith(("/", ".", "~")) or source.count("/") != 1:
        raise ConfigError(
            f"from_hub={source}: no such folder (from_hub takes a folder push_to_hub wrote, or a Hub repo id "
            "ORG/NAME)"
        )
    check_repo_id(source, "from_hub")
    endpoint = constants.ENDPOINT
    try:
        return Path(snapshot_download(source, allow_patterns=list(DOWNLOADED), token=get_token())), source
    except RepositoryNotFoundError:
        raise ConfigError(
            f"from_hub={source}: {endpoint} has no model repo {source} (or it is private or gated and the "
            "token, HF_TOKEN or `hf auth login`, cannot read it); a local folder needs a path such as ./DIR"
        ) from None
    except LocalEntryNotFoundError as error:  # offline or unreachable, and not in the cache
        raise HubError(
            f"from_hub={source}: the Hub at {endpoint} cannot be reached ({describe(error)}) and "
            "huggingface_hub's cache has no copy of the repo"
        ) from None
    except HfHubHTTPError as error:
        raise HubError(f"from_hub={source}: {endpoint} refused the download: {first_line(error)}") from None
    except Exception as error:  # noqa: BLE001  (huggingface_hub's HTTP client raises its own transport errors)
        raise transfer_failure(f"from_hub={source}", endpoint, "download from", error) from None


#: the sections of a run config that evaluation instantiates
BUILT_SECTIONS = ("algo", "env", "network")


def check_targets(config: DictConfig, where: str) -> None:
    """Refuse a downloaded config whose algo, env or network would make Hydra call anything outside pglab.

    Loading a shared agent must run no code from the Hub: the weights are safetensors, and Hydra's `_target_`
    could otherwise name any importable callable (`os.system`, say)."""
    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "_target_" and not (isinstance(value, str) and value.startswith("pglab.")):
                    found.append(f"{path}._target_={value}")
                walk(value, f"{path}.{name}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    for section in BUILT_SECTIONS:
        walk(
            OmegaConf.to_container(config.get(section), resolve=False) if section in config else None, section
        )
    if found:
        raise ConfigError(
            f"{where} names callables outside pglab ({'; '.join(found[:3])}): a shared agent's config may only "
            "build pglab's own envs, networks and algorithms, so it is not loaded"
        )


def load_agent(source: str) -> Agent:
    """The agent of a Hub folder (`source`: a dir push_to_hub wrote, or `ORG/NAME` on the Hub): its run config,
    its network weights and observation statistics read from safetensors, and its results' env steps."""
    folder, repo_id = hub_folder(source)
    key = f"from_hub={source}"
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ConfigError(f"{key} is not a pglab Hub folder: no {' and no '.join(missing)} in {folder}")
    config = load_run_config(folder / CONFIG_FILE)
    if config is None:
        raise ConfigError(
            f"{key}: {folder / CONFIG_FILE} is not a pglab run config (no algo and env sections)"
        )
    check_targets(config, f"{key}: {folder / CONFIG_FILE}")
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (SafetensorError, OSError) as error:
        raise ConfigError(f"{key}: {folder / WEIGHTS_FILE} cannot be read as safetensors ({error})") from None
    weights = {k.removeprefix(POLICY_PREFIX): v for k, v in tensors.items() if k.startswith(POLICY_PREFIX)}
    normalization = {}
    obs_rms = {name: tensors.get(OBS_RMS_PREFIX + name) for name in ("mean", "var", "count")}
    if any(value is not None for value in obs_rms.values()):
        if any(value is None for value in obs_rms.values()) or obs_rms["count"].numel() != 1:
            raise ConfigError(
                f"{key}: {folder / WEIGHTS_FILE} holds incomplete observation statistics: it needs "
                f"{OBS_RMS_PREFIX}mean, var and count (one number)"
            )
        normalization["obs_rms"] = obs_rms | {"count": float(obs_rms["count"])}
    try:
        results = json.loads((folder / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        results = {}
    if not isinstance(results, dict):
        raise ConfigError(f"{key}: {folder / RESULTS_FILE} is not a pglab results file (a JSON object)")
    return Agent(
        config=config,
        weights=weights,
        normalization=normalization,
        env_steps=results.get("env_steps"),
        key=key,
        origin={"from_hub": source, "folder": str(folder)},
        source=str(folder / CONFIG_FILE),
        out_dir=(FROM_HUB_DIR.resolve() if repo_id else folder.parent),
        name=repo_id.replace("/", "--") if repo_id else folder.name,
        run_dir=None,
    )


def load_policy(source: str, device: str = "cpu") -> ActorCritic:
    """The policy network of a Hub folder (`ORG/NAME` on the Hub, through huggingface_hub's cache, or a dir
    push_to_hub wrote), rebuilt from its `config.yaml` with its safetensors weights, in eval mode on `device`.

    A run that normalized observations needs them normalized with `load_agent(source).normalization["obs_rms"]`.
    Raises ConfigError (one line) when the weights do not fit the config's network."""
    agent = load_agent(source)
    try:
        observation_space, action_space = env_spaces(instantiate(agent.config.env))
    except InstantiationException as error:
        raise ConfigError(f"{agent.key}: its env cannot be built: {str(error).splitlines()[0]}") from None
    return build_policy(
        agent.config, agent.weights, observation_space, action_space, device, agent.key, agent.source
    )


#: the base classes of the errors of a request that reached no server (huggingface_hub's HTTP client's and Python's)
TRANSPORT_ERRORS = ("TransportError", "TimeoutException", "ConnectionError", "TimeoutError")


def unreachable(error: BaseException) -> bool:
    """Whether `error` says that no server answered (refused, timed out, no route, DNS), not that one refused."""
    return any(kind.__name__ in TRANSPORT_ERRORS for kind in type(error).__mro__)


def first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def transfer_failure(
    key: str, endpoint: str, transfer: str, error: BaseException, then: str = ""
) -> HubError:
    """The HubError of an upload or download (`transfer`: "upload to" / "download from") that did not get an HTTP
    answer: the Hub could not be reached, or the transfer failed on the way."""
    what = (
        f"the Hub at {endpoint} cannot be reached"
        if unreachable(error)
        else f"the {transfer} {endpoint} failed"
    )
    return HubError(f"{key}: {what} ({describe(error)}){then}")


def describe(error: BaseException) -> str:
    """`Type: first line` of the error behind `error` (huggingface_hub wraps the connection error)."""
    cause = error.__cause__ or error.__context__ or error
    text = first_line(cause).removeprefix("Got: ")
    return text if text.split(":")[0].isidentifier() and ":" in text else f"{type(cause).__name__}: {text}"
