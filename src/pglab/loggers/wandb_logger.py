"""Weights & Biases logging for pglab runs: Lightning's `WandbLogger` with five changes.

1. Every metric is plotted against env steps: `progress/env_steps` is logged with each row and declared the step
   metric of every key (W&B's `define_metric`), instead of Lightning's `trainer/global_step`, which counts
   optimizer steps and is not comparable across algorithms.
2. `mode=auto` runs offline on its own when no API key is configured (`WANDB_API_KEY`, or a `wandb login`
   entry in ~/.netrc), saying so in one line; `wandb sync <run dir>/wandb/offline-run-*` uploads it later.
   Nothing prompts and nothing touches the network. `mode=online` without an API key is a `ConfigError` at
   construction. pglab never writes the API key anywhere: the saved config holds no credentials, and W&B reads
   the key from the environment or ~/.netrc only.
3. An online run (`mode=online`, or `auto` with a key) that cannot reach the W&B server logs offline instead, with
   one warning that names the server, the cause and the `wandb sync` command, and trains as usual. Before
   `wandb.init`, one HTTP HEAD request to the server (`WANDB_BASE_URL`, through the proxy W&B would use) must be
   answered within `PROBE_TIMEOUT_S`, else (refused, no DNS, no answer) the run falls back without calling W&B.
   If it is answered, `wandb.init` gets `init_timeout=INIT_TIMEOUT_S` (unless `WANDB_INIT_TIMEOUT` is set), and
   a failed online init is followed by an offline one, within about 25 s in all (W&B's own default waited 90 s,
   about 100 s in all, and then the run died).
4. In a Hydra multirun, `group` defaults to the sweep dir's name (all jobs of a sweep share it) and `name` to
   the job's overrides with its seed, so each job is its own, recognizable run. The run is finished when
   training ends, also when it fails, so the next job starts a new one.
5. `log_model` logs `last.ckpt` / `best.ckpt` (from `pglab.callbacks.EnvStepCheckpoint`) as `model`
   artifacts, also in offline mode (they upload with `wandb sync`). Lightning's own implementation only works
   with `ModelCheckpoint` and refuses offline mode.

Constructing the logger only checks its arguments: it writes nothing, logs nothing and opens no connection
(`pglab.preflight` constructs it to validate a config); the W&B run and its dir start with the first use of
`experiment`.
"""

import http.client
import logging
import netrc
import os
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from pglab.errors import ConfigError

log = logging.getLogger(__name__)

ENV_STEP_KEY = "progress/env_steps"
MODES = ("auto", "online", "offline", "disabled")
LOG_MODEL = (False, True, "all")
DEFAULT_BASE_URL = "https://api.wandb.ai"
#: seconds the W&B server (or its proxy) may take to answer a first request before the run logs offline instead
PROBE_TIMEOUT_S = 3.0
#: seconds an online `wandb.init` may take once the server has answered (W&B's default: 90). Before it, W&B may
#: spend up to 2 x 5 s looking up the account, so a server that answers the probe and then stops answering costs
#: at most about PROBE_TIMEOUT_S + 10 + INIT_TIMEOUT_S + 2 (stopping W&B's service) before the offline run starts.
INIT_TIMEOUT_S = 10.0


def has_wandb_credentials() -> bool:
    """Whether credentials are configured: `WANDB_API_KEY` (or `WANDB_IDENTITY_TOKEN_FILE`), or a ~/.netrc
    entry (`$NETRC` if set) for the W&B host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str) -> str:
    """`auto`: `WANDB_MODE` if set, else online with credentials and offline without. Raises ConfigError for an
    unknown mode, and for online without credentials (naming the setting that asked for online)."""
    if mode not in MODES:
        raise ConfigError(f"logger.wandb.mode={mode!r} is not supported; choose one of {list(MODES)}")
    if mode != "auto":
        resolved, source = mode, f"logger.wandb.mode={mode}"
    elif env_mode := os.environ.get("WANDB_MODE"):
        resolved, source = env_mode, f"WANDB_MODE={env_mode} (with logger.wandb.mode=auto)"
    else:
        return "online" if has_wandb_credentials() else "offline"
    if resolved == "online" and not has_wandb_credentials():
        host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)).hostname
        raise ConfigError(
            f"{source} needs a W&B API key, and none is configured (no WANDB_API_KEY, no ~/.netrc entry for {host}): "
            "set WANDB_API_KEY or run `wandb login`, or log without one: logger.wandb.mode=auto (offline without a "
            "key) or logger.wandb.mode=offline"
        )
    return resolved


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer: raised as HTTPError, not followed to another host


def server_error(base_url: str, proxy: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the server at `base_url` answers an HTTP HEAD request within `timeout` s (any status, or a TLS
    error, which W&B's own client may not share), else why not (refused, DNS, no answer). Through `proxy` if
    given, else through the proxies of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as W&B. The
    request runs in a thread so that a slow DNS lookup, which the socket timeout does not cover, is bounded too."""
    scheme = urlparse(base_url).scheme
    handlers = [_NoRedirect()] + ([urllib.request.ProxyHandler({scheme: proxy})] if proxy else [])
    opener = urllib.request.build_opener(*handlers)
    outcome: list[str | None] = []

    def request() -> None:
        try:
            opener.open(urllib.request.Request(base_url, method="HEAD"), timeout=timeout).close()
        except urllib.error.HTTPError:
            pass  # an answer, whatever its status
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)  # URLError wraps the socket's error
            if not isinstance(reason, ssl.SSLError):
                outcome.append(getattr(reason, "strerror", None) or str(reason) or type(reason).__name__)
                return
        outcome.append(None)

    thread = threading.Thread(target=request, name="pglab-wandb-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def hydra_job_defaults(seed: int | None) -> tuple[str | None, str | None]:
    """(group, name) for a W&B run from the Hydra job: in a multirun, the sweep dir's name and the job's
    overrides plus its seed; in a single run, no group and the overrides plus seed (or the run dir's name)."""
    if not HydraConfig.initialized():
        return None, None
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("seed=", "logger", "hydra"))]
    name = " ".join([*overrides, f"seed={seed}"]) if seed is not None else " ".join(overrides) or None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return Path(hydra_cfg.sweep.dir).name, name
    return None, name or Path(hydra_cfg.runtime.output_dir).name


class EnvStepWandbLogger(WandbLogger):
    """Args:
    project: W&B project.
    entity: W&B team or user; null: your default entity.
    group: run group; null: the sweep dir's name in a multirun, none otherwise.
    tags: run tags.
    name: run name; null: the job's overrides and seed.
    mode: auto | online | offline | disabled (auto: offline without an API key; online: a ConfigError
        without one, offline with a warning when the server cannot be reached).
    log_model: false | true (last.ckpt and best.ckpt when training ends) | all (every save).
    save_dir: directory of the local W&B files (`<save_dir>/wandb`).
    seed: the run's seed, shown in the default name.
    """

    def __init__(
        self,
        project: str = "pglab",
        entity: str | None = None,
        group: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        name: str | None = None,
        mode: str = "auto",
        log_model: bool | Literal["all"] = False,
        save_dir: str = ".",
        seed: int | None = None,
    ):
        if log_model not in LOG_MODEL:
            raise ConfigError(
                f"logger.wandb.log_model={log_model!r} is not supported; choose one of [false, true, 'all']"
            )
        resolved_mode = resolve_mode(mode)
        default_group, default_name = hydra_job_defaults(seed)
        super().__init__(
            name=name or default_name,
            save_dir=save_dir,
            project=project,
            entity=entity,
            group=group or default_group,
            tags=list(tags),
            mode=resolved_mode,
            reinit="finish_previous",
        )
        self._wandb_init.pop("anonymous", None)  # deprecated in wandb; Lightning always passes it
        self._offline_without_key = (
            mode == "auto" and resolved_mode == "offline" and not os.environ.get("WANDB_MODE")
        )
        self.log_checkpoints = log_model
        self._pending_checkpoints: dict[str, tuple[Path, int]] = {}

    def beside_other_runs(self) -> None:
        """Let this logger's W&B run stay active beside other runs of this process (each member of a population
        logs to its own run): `reinit="create_new"`, where a run of its own process finishes the previous run."""
        self._wandb_init["reinit"] = "create_new"

    def resume_at(self, env_steps: int) -> None:
        """Continue the W&B run this run dir already holds (`resume=<run dir>`), if any: same run id, so the
        dashboard shows one run. Call before logging. (W&B cannot delete history: steps the interrupted
        process logged after its last checkpoint appear twice; SIGINT/SIGTERM checkpoint at the stop, so only a
        hard kill leaves such steps.)"""
        runs = sorted(Path(self._wandb_init["dir"]).glob("wandb/*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs:
            self._wandb_init.update(id=runs[-1].name.rsplit("-", 1)[-1], resume="allow")

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            import wandb

            save_dir = Path(self._wandb_init["dir"])
            save_dir.mkdir(parents=True, exist_ok=True)
            if self._offline_without_key:
                log.info(
                    "W&B: no API key configured, logging offline to %s/wandb; upload later with "
                    "`wandb sync %s/wandb/offline-run-*`",
                    save_dir,
                    save_dir,
                )
            if self._wandb_init["mode"] == "online":
                self._experiment = self._init_online_or_offline(wandb, save_dir)
            else:
                self._experiment = wandb.init(**self._wandb_init)
            self._experiment.define_metric(ENV_STEP_KEY)
            self._experiment.define_metric("*", step_metric=ENV_STEP_KEY, step_sync=True)
        return self._experiment

    def _init_online_or_offline(self, wandb: Any, save_dir: Path) -> Any:
        """An online W&B run if the server answers in time, else (one warning) an offline one in its place, with
        the same name, group, config and artifacts (and the same id when resuming), which `wandb sync` uploads
        later. A failed online init leaves its `run-*` dir, whose logs say why; `resume_at` takes the newer dir."""
        settings = wandb.setup().settings  # what wandb.init will use: base URL and proxies from env and files
        proxy = settings.https_proxy if settings.base_url.startswith("https:") else settings.http_proxy
        cause = server_error(settings.base_url, proxy)
        if cause is None:
            # W&B's own WANDB_INIT_TIMEOUT, if set, wins; otherwise a bounded wait instead of its 90 s.
            bounded = (
                None if "WANDB_INIT_TIMEOUT" in os.environ else wandb.Settings(init_timeout=INIT_TIMEOUT_S)
            )
            try:
                return wandb.init(**self._wandb_init, settings=bounded)
            except Exception as error:  # CommError on a timeout; whatever else stops the online init, too
                cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                # W&B's service still holds the failed run under its id, and refuses a second init with that id
                # (a resumed run's): stop it, with anything the failed init left; the offline init starts another.
                wandb.teardown(exit_code=1)
        log.warning(
            "W&B: cannot log online to %s (%s); logging offline to %s/wandb instead; upload later with "
            "`wandb sync %s/wandb/offline-run-*`",
            settings.base_url,
            cause,
            save_dir,
            save_dir,
        )
        self._wandb_init["mode"] = "offline"
        # W&B's error reports go to the same server, at exit: against one that does not answer they held the process
        # 10-20 s after training. An explicit WANDB_ERROR_REPORTING wins; later runs of this process inherit it.
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
        return wandb.init(**self._wandb_init)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log `metrics` at env step `step` (pglab passes env steps, never optimizer steps)."""
        row = dict(metrics) if step is None else {**metrics, ENV_STEP_KEY: step}
        self.experiment.log(row)

    @rank_zero_only
    def log_checkpoint_file(self, path: Path, alias: str, env_steps: int) -> None:
        """Called by `EnvStepCheckpoint` after each save; `alias` is "last" or "best"."""
        if self.log_checkpoints == "all":
            self._log_artifact(path, alias, env_steps)
        elif self.log_checkpoints:
            self._pending_checkpoints[alias] = (path, env_steps)

    def _log_artifact(self, path: Path, alias: str, env_steps: int) -> None:
        import wandb

        artifact = wandb.Artifact(
            name=f"model-{self.experiment.id}",
            type="model",
            metadata={"env_steps": env_steps, "file": path.name},
        )
        # Copied to W&B's staging area: later saves don't alter it.
        artifact.add_file(str(path), name=path.name)
        self.experiment.log_artifact(artifact, aliases=[alias, f"step-{env_steps}"])

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Log the pending checkpoints (on success) and finish the W&B run, so the next job gets its own."""
        if self._experiment is None:
            return
        if status == "success":
            for alias, (path, env_steps) in self._pending_checkpoints.items():
                self._log_artifact(path, alias, env_steps)
        self._pending_checkpoints.clear()
        self._experiment.finish(exit_code=0 if status == "success" else 1)
        self._experiment = None
