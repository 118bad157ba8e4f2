"""The reference for what PPO costs without a framework: a single-file PyTorch PPO after CleanRL's `ppo.py`.
Only the plain PPO child imports this module: it carries torch and gymnasium, not Lightning, Hydra or pglab."""

import math
import time
from typing import Any

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical

from pglab.benchmark.sb3_config import SB3_ACTIVATIONS
from pglab.benchmark.timing import record_first_call


def child_plain_ppo(spec: dict[str, Any]) -> dict[str, Any]:
    """A single-file PyTorch PPO with pglab's PPO hyperparameters, written after CleanRL's `ppo.py`: the
    reference for what PPO needs without a framework (no Lightning, Hydra, checkpoints, logging or
    evaluation). Like CleanRL it treats a truncation as a termination; that changes no cost."""
    algo, network, seed = spec["algo"], spec["network"], spec["seed"]
    torch.set_num_threads(spec["torch_threads"])
    torch.manual_seed(seed)
    first_step = record_first_call(gym.vector.SyncVectorEnv, "step")
    start = time.perf_counter()
    N, T = spec["num_envs"], algo["num_steps"]
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(spec["env_id"])] * N, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    obs_dim, num_actions = envs.single_observation_space.shape[0], envs.single_action_space.n
    activation = getattr(nn, SB3_ACTIVATIONS[network["activation"]])

    def layer(n_in: int, n_out: int, gain: float) -> nn.Linear:
        linear = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(linear.weight, gain)
        nn.init.zeros_(linear.bias)
        return linear

    def mlp(n_out: int, head_gain: float) -> nn.Sequential:
        sizes, layers = [obs_dim, *network["hidden_sizes"]], []
        for n_in, n_hidden in zip(sizes, sizes[1:], strict=False):
            layers += [layer(n_in, n_hidden, math.sqrt(2)), activation()]
        return nn.Sequential(*layers, layer(sizes[-1], n_out, head_gain))

    actor, critic = mlp(num_actions, 0.01), mlp(1, 1.0)
    parameters = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=algo["lr"], eps=1e-5)
    obs_buf = torch.zeros((T, N, obs_dim))
    actions = torch.zeros((T, N), dtype=torch.long)
    log_probs, rewards, values = torch.zeros((T, N)), torch.zeros((T, N)), torch.zeros((T, N))
    dones = torch.zeros((T, N))  # dones[t] = 1: obs_buf[t] is the first observation of an episode
    obs, done = torch.as_tensor(envs.reset(seed=seed)[0]), torch.zeros(N)
    batch_size, env_steps = T * N, 0
    while env_steps < spec["total_steps"]:
        if algo["anneal_lr"]:
            optimizer.param_groups[0]["lr"] = algo["lr"] * (1.0 - env_steps / spec["total_steps"])
        with torch.no_grad():
            for t in range(T):
                obs_buf[t], dones[t] = obs, done
                dist = Categorical(logits=actor(obs))
                actions[t] = dist.sample()
                log_probs[t], values[t] = dist.log_prob(actions[t]), critic(obs).squeeze(-1)
                next_obs, reward, terminated, truncated, _ = envs.step(actions[t].numpy())
                rewards[t] = torch.as_tensor(reward)
                obs, done = (
                    torch.as_tensor(next_obs),
                    torch.as_tensor(terminated | truncated, dtype=torch.float32),
                )
            env_steps += batch_size
            advantages, last, next_value, next_done = torch.zeros((T, N)), 0.0, critic(obs).squeeze(-1), done
            for t in reversed(range(T)):
                delta = rewards[t] + algo["gamma"] * next_value * (1.0 - next_done) - values[t]
                last = delta + algo["gamma"] * algo["gae_lambda"] * (1.0 - next_done) * last
                advantages[t], next_value, next_done = last, values[t], dones[t]
            returns = advantages + values
        b_obs, b_actions, b_log_probs = (
            obs_buf.reshape(batch_size, obs_dim),
            actions.flatten(),
            log_probs.flatten(),
        )
        b_advantages, b_returns = advantages.flatten(), returns.flatten()
        for _ in range(algo["update_epochs"]):
            for mb in torch.randperm(batch_size).split(batch_size // algo["num_minibatches"]):
                dist = Categorical(logits=actor(b_obs[mb]))
                ratio = (dist.log_prob(b_actions[mb]) - b_log_probs[mb]).exp()
                adv = b_advantages[mb]
                if algo["normalize_advantage"]:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                clip = algo["clip_coef"]
                pg_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                v_loss = 0.5 * (critic(b_obs[mb]).squeeze(-1) - b_returns[mb]).pow(2).mean()
                loss = pg_loss + algo["vf_coef"] * v_loss - algo["ent_coef"] * dist.entropy().mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(parameters, algo["max_grad_norm"])
                optimizer.step()
    envs.close()
    return {
        "env_steps": env_steps,
        "train_s": time.perf_counter() - start,
        "evals": [],
        "first_step_s": first_step["s"],
    }
