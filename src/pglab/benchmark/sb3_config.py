"""pglab's PPO and A2C hyperparameters in Stable-Baselines3's terms, and SB3's tuned CartPole PPO.

Everything here is JSON, so that the parent can hand it to an SB3 child process: a schedule travels as
`linear_schedule`'s dict and becomes SB3's callable of the progress remaining in the child (`schedule`).
"""

import math
from typing import Any

#: SB3's class for each preset that has a counterpart there
SB3_ALGOS = {"ppo_cartpole": "PPO", "a2c_cartpole": "A2C"}
#: torch.nn class names; SB3 has no fast tanh, so pglab's `fast_tanh` maps to the same function, `nn.Tanh`
SB3_ACTIVATIONS = {"fast_tanh": "Tanh", "tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "gelu": "GELU"}
#: RL Zoo's tuned CartPole-v1 PPO (rl-baselines3-zoo, hyperparams/ppo.yml); everything else SB3's defaults.
#: `lin_x` is RL Zoo's `linear_schedule(x)`: x * progress_remaining.
RL_ZOO_PPO_CARTPOLE = {
    "num_envs": 8,
    "total_steps": 100_000,
    "kwargs": {
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": {"linear_from": 1e-3, "shift": 0.0},
        "clip_range": {"linear_from": 0.2, "shift": 0.0},
    },
}
#: SB3 arguments that take a schedule (a constant or a function of the progress remaining)
SCHEDULED = {"learning_rate", "clip_range"}


def linear_schedule(start: float, shift: float) -> dict[str, float]:
    """A learning-rate (or clip) schedule as JSON: `start * max(0, progress_remaining + shift)` in SB3 terms."""
    return {"linear_from": start, "shift": shift}


def schedule(value: float | dict[str, float]):
    """A constant, or `linear_schedule`'s JSON as the callable of progress_remaining that SB3 takes."""
    if not isinstance(value, dict):
        return value
    start, shift = value["linear_from"], value["shift"]
    return lambda progress_remaining: start * max(0.0, progress_remaining + shift)


def sb3_hyperparameters(cfg) -> dict[str, Any]:
    """SB3 keyword arguments that reproduce the PPO or A2C of the composed pglab config `cfg` exactly.

    - `vf_coef` is halved: pglab's value loss is 0.5 * MSE (CleanRL), SB3's is MSE.
    - Annealing: pglab sets lr * (1 - progress before the rollout) for the update after it; SB3 calls its
      schedule with the progress remaining *after* the rollout, so the schedule is shifted by one rollout.
    - PPO: batch_size = rollout / num_minibatches; Adam eps 1e-5 (SB3's default for its policies) and
      per-minibatch advantage normalization (std + 1e-8) are the same on both sides.
    - A2C: RMSprop(alpha 0.99, eps 1e-5) on both sides, or Adam(eps 1e-5) with `algo.optimizer=adam`.
    - Network: separate actor and critic MLPs (`net_arch` as a list gives SB3 separate pi and vf layers),
      the same activation, orthogonal init with gains sqrt(2) / 0.01 / 1 on both sides.
    """
    algo, env, net = cfg.algo, cfg.env, cfg.network
    unmapped = [
        key
        for key, value, default in (
            ("algo.clip_vloss", algo.get("clip_vloss", False), False),
            ("algo.target_kl", algo.get("target_kl"), None),
            ("network.shared_trunk", net.shared_trunk, False),
            ("env.vectorization", env.vectorization, "sync"),
            ("env.normalize_obs", env.normalize_obs, False),
            ("env.normalize_reward", env.normalize_reward, False),
            ("env.max_episode_steps", env.max_episode_steps, None),
            ("env.frame_stack", env.frame_stack, 1),
        )
        if value != default
    ]
    if unmapped:
        raise ValueError(
            f"the SB3 comparison maps only the CartPole presets' settings; not mapped: {unmapped}"
        )
    rollout = env.num_envs * algo.num_steps
    learning_rate = (
        linear_schedule(algo.lr, shift=rollout / cfg.total_env_steps) if algo.anneal_lr else algo.lr
    )
    kwargs = {
        "n_steps": algo.num_steps,
        "learning_rate": learning_rate,
        "gamma": algo.gamma,
        "gae_lambda": algo.gae_lambda,
        "ent_coef": algo.ent_coef,
        "vf_coef": algo.vf_coef / 2,
        "max_grad_norm": math.inf if algo.max_grad_norm is None else algo.max_grad_norm,
        "normalize_advantage": algo.normalize_advantage,
        "policy_kwargs": {
            "net_arch": list(net.hidden_sizes),
            "activation_fn": SB3_ACTIVATIONS[net.activation],
            "ortho_init": True,
        },
    }
    if algo._target_.endswith(".PPO"):
        kwargs |= {
            "batch_size": rollout // algo.num_minibatches,
            "n_epochs": algo.update_epochs,
            "clip_range": algo.clip_coef,
        }
    else:
        kwargs |= {"use_rms_prop": algo.optimizer == "rmsprop", "rms_prop_eps": 1e-5}
    return kwargs
