"""Population training: every member trains exactly as its own run would, and members never couple."""

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from pglab.errors import ConfigError, DivergenceError
from pglab.population.module import PopulationModule
from pglab.population.network import StackedActorCritic
from pglab.population.run import population_key, run_population
from pglab.train import run

TORCH_PPO = (
    "experiment=ppo_cartpole_torch",
    "total_env_steps=6144",
    "callbacks.evaluation.every_env_steps=2048",
)
#: with a gymnasium vector env (numpy sub-envs) and the default PPO: 8 envs x 32 steps
SYNC_PPO = ("env=cartpole", "total_env_steps=2048", "callbacks.evaluation.every_env_steps=1024")
#: A2C (RMSprop, 8 envs x 5 steps) on the torch backend, and on a gymnasium vector env
TORCH_A2C = (
    "experiment=a2c_cartpole",
    "env.vectorization=torch",
    "total_env_steps=4000",
    "callbacks.evaluation.every_env_steps=2000",
)
SYNC_A2C = ("experiment=a2c_cartpole", "total_env_steps=2000", "callbacks.evaluation.every_env_steps=1000")
#: VPG (8 envs x 256 steps, 40 value steps per rollout) on the torch backend, and on a gymnasium vector env
TORCH_VPG = (
    "experiment=vpg_cartpole",
    "env.vectorization=torch",
    "total_env_steps=8192",
    "callbacks.evaluation.every_env_steps=4096",
)
SYNC_VPG = ("experiment=vpg_cartpole", "total_env_steps=4096", "callbacks.evaluation.every_env_steps=2048")
#: REINFORCE (8 envs, 16 whole episodes per rollout) on a gymnasium vector env, and on the torch backend
SYNC_REINFORCE = (
    "experiment=reinforce_cartpole",
    "total_env_steps=3000",
    "callbacks.evaluation.every_env_steps=1500",
)
TORCH_REINFORCE = SYNC_REINFORCE + ("env.vectorization=torch",)


def metrics(run_dir: Path) -> list[dict[str, str]]:
    """The run's metrics rows without the timings (the only columns a population may change); none before the
    first row is logged."""
    if not (run_dir / "csv" / "metrics.csv").exists():
        return []
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in csv.DictReader(f)]


def train_population(make_cfg, tmp_path: Path, name: str, jobs: list[tuple[str, ...]]) -> list[Path]:
    dirs = [tmp_path / f"{name}{k}" for k in range(len(jobs))]
    results = run_population(
        [(make_cfg(*job, output_dir=d), list(job)) for job, d in zip(jobs, dirs, strict=True)]
    )
    assert all(isinstance(r, dict) and r["status"] == "completed" for r in results), results
    return dirs


@pytest.mark.parametrize(
    "base, variants",
    [
        (
            TORCH_PPO,
            [("seed=0",), ("seed=1", "algo.lr=1e-3", "algo.ent_coef=0.01", "algo.max_grad_norm=null")],
        ),
        (
            SYNC_PPO,
            [("seed=3", "algo.target_kl=0.01"), ("seed=4", "algo.gamma=0.95", "algo.clip_vloss=true")],
        ),
        (TORCH_PPO, [("seed=2", "algo.normalize_advantage=false", "algo.max_grad_norm=0.3")]),  # one member
        (
            TORCH_A2C,
            [
                ("seed=0",),
                ("seed=1", "algo.lr=1e-3", "algo.ent_coef=0.01", "algo.max_grad_norm=null"),
                ("seed=2", "algo.normalize_advantage=true", "algo.anneal_lr=true", "algo.max_grad_norm=0.3"),
            ],
        ),
        (SYNC_A2C, [("seed=3", "algo.gamma=0.95"), ("seed=4", "algo.gae_lambda=0.9", "algo.lr=2e-3")]),
        (TORCH_A2C + ("algo.optimizer=adam",), [("seed=5",), ("seed=6", "algo.lr=3e-3")]),
        (
            TORCH_VPG,
            [
                ("seed=0",),
                ("seed=1", "algo.lr=1e-3", "algo.vf_lr=3e-3", "algo.ent_coef=0.01", "algo.max_grad_norm=0.3"),
                ("seed=2", "algo.normalize_advantage=false", "algo.anneal_lr=true", "algo.gamma=0.95"),
            ],
        ),
        (SYNC_VPG, [("seed=3", "algo.gae_lambda=0.9"), ("seed=4", "algo.vf_lr=3e-4")]),
        (  # Box actions: the Gaussian head
            (
                "algo=a2c",
                "env=pendulum",
                "env.vectorization=torch",
                "total_env_steps=2000",
                "callbacks.evaluation.every_env_steps=1000",
            ),
            [("seed=0",), ("seed=1", "algo.lr=1e-3", "algo.ent_coef=0.01", "algo.max_grad_norm=0.3")],
        ),
        (
            SYNC_REINFORCE,
            [
                ("seed=0",),
                ("seed=1", "algo.lr=1e-3", "algo.ent_coef=0.01", "algo.max_grad_norm=0.3"),
                ("seed=2", "algo.normalize_advantage=false", "algo.baseline=mean", "algo.returns=episode"),
            ],
        ),
        (TORCH_REINFORCE, [("seed=3", "algo.gamma=0.95"), ("seed=4", "algo.anneal_lr=false")]),
        (  # Box actions, and an env wrapper that keeps running statistics (observation normalization)
            (
                "algo=reinforce",
                "env=pendulum",
                "algo.episodes_per_rollout=4",
                "env.normalize_obs=true",
                "total_env_steps=2400",
                "callbacks.evaluation.every_env_steps=1200",
            ),
            [("seed=0",), ("seed=1", "algo.lr=1e-3", "algo.max_grad_norm=0.3")],
        ),
    ],
    ids=[
        "torch-backend",
        "gymnasium-backend",
        "one-member",
        "a2c-torch",
        "a2c-gymnasium",
        "a2c-adam",
        "vpg-torch",
        "vpg-gymnasium",
        "a2c-pendulum",
        "reinforce-gymnasium",
        "reinforce-torch",
        "reinforce-pendulum",
    ],
)
def test_every_member_trains_exactly_as_its_own_run(make_cfg, tmp_path, caplog, base, variants):
    jobs = [base + v for v in variants]
    for k, job in enumerate(jobs):
        run(make_cfg(*job, output_dir=tmp_path / f"alone{k}"), list(job))
    with caplog.at_level(logging.INFO, logger="pglab.population.run"):
        together = train_population(make_cfg, tmp_path, "member", jobs)
    assert f"Population of {len(jobs)} on " in caplog.text  # trained together, not job by job
    for k, run_dir in enumerate(together):
        alone = metrics(tmp_path / f"alone{k}")
        assert metrics(run_dir) == alone  # every logged value, evaluations included, bit for bit
        assert any(row["eval/episode_return_mean"] for row in alone)
        for name in ("config.yaml", "summary.json", "learning_curve.png"):
            assert (run_dir / name).is_file()


@pytest.mark.parametrize(
    "base, change",
    [
        (TORCH_PPO, "algo.lr=1e-2"),
        (TORCH_A2C, "algo.lr=1e-2"),
        (TORCH_VPG, "algo.vf_lr=1e-2"),
        (SYNC_REINFORCE, "algo.lr=5e-2"),
    ],
    ids=["ppo", "a2c", "vpg", "reinforce"],
)
def test_changing_one_members_lr_leaves_every_other_member_bit_identical(make_cfg, tmp_path, base, change):
    jobs = [base + (f"seed={k}",) for k in range(3)]
    first = train_population(make_cfg, tmp_path, "a", jobs)
    jobs[1] = jobs[1] + (change,)
    second = train_population(make_cfg, tmp_path, "b", jobs)
    assert metrics(first[0]) == metrics(second[0])
    assert metrics(first[2]) == metrics(second[2])
    assert metrics(first[1]) != metrics(second[1])


def test_a_job_with_a_bad_value_fails_alone(make_cfg, tmp_path):
    jobs = [TORCH_PPO + ("seed=0",), TORCH_PPO + ("seed=1", "algo.clip_coef=-1")]
    dirs = [tmp_path / "good", tmp_path / "bad"]
    results = run_population([(make_cfg(*j, output_dir=d), list(j)) for j, d in zip(jobs, dirs, strict=True)])
    assert results[0]["status"] == "completed" and results[0]["progress/env_steps"] >= 6144
    assert "algo.clip_coef" in str(results[1])
    assert '"status": "failed"' in (tmp_path / "bad" / "summary.json").read_text()


@pytest.mark.parametrize("hidden_sizes", [(64, 64), (16,), (8, 4)])
def test_the_stacked_network_gives_each_member_its_own_bits_and_shares_its_storage(hidden_sizes):
    import gymnasium as gym

    from pglab.networks.actor_critic import ActorCritic

    torch.set_num_threads(1)
    for space in (gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,))):
        policies = []
        for k in range(4):
            torch.manual_seed(k)
            policies.append(ActorCritic(gym.spaces.Box(-1.0, 1.0, (6,)), space, hidden_sizes=hidden_sizes))
        copies = [
            type(p)(gym.spaces.Box(-1.0, 1.0, (6,)), space, hidden_sizes=hidden_sizes) for p in policies
        ]
        for c, p in zip(copies, policies, strict=True):
            c.load_state_dict(p.state_dict())
        stacked = StackedActorCritic(policies)
        for batch in (1, 2, 4, 7, 256):
            obs = torch.randn(4, batch, 6)
            actions = torch.stack([c.act(obs[k])[0] for k, c in enumerate(copies)])
            outputs = stacked.evaluate_actions(obs, actions)
            for k, c in enumerate(copies):
                for mine, theirs in zip(outputs, c.evaluate_actions(obs[k], actions[k]), strict=True):
                    assert torch.equal(mine[k], theirs), (space, batch, k)
        # the actor alone as `distribution(obs).log_prob` then `.entropy()`, the critic alone as `value(obs)`: values
        # and gradients (VPG's losses), each member's parameters in its `actor_parameters()` order
        obs = torch.randn(4, 64, 6)
        actions = torch.stack([c.act(obs[k])[0] for k, c in enumerate(copies)])
        log_probs, entropy = stacked.log_prob_and_entropy(obs, actions)
        values = stacked.critic_values(obs)
        (log_probs.mean(-1) - 0.01 * entropy.mean(-1) + values.pow(2).mean(-1)).sum().backward()
        for k, c in enumerate(copies):
            dist = c.distribution(obs[k])
            theirs = (dist.log_prob(actions[k]), dist.entropy(), c.value(obs[k]))
            for mine, their in zip((log_probs, entropy, values), theirs, strict=True):
                assert torch.equal(mine[k], their), (space, k)
            (theirs[0].mean() - 0.01 * theirs[1].mean() + theirs[2].pow(2).mean()).backward()
            mine = [p.grad[k] for p in stacked.actor_params() + stacked.critic_params()]
            theirs = [p.grad for p in c.actor_parameters() + c.critic_parameters()]
            assert len(mine) == len(theirs) and all(
                torch.equal(a, b) for a, b in zip(mine, theirs, strict=True)
            )
        with torch.no_grad():  # a step on the stacked tensors is a step of every member's own module
            stacked.params[0][2].add_(1.0)
        assert torch.equal(next(policies[2].parameters()), next(copies[2].parameters()) + 1.0)


def test_jobs_group_by_everything_but_seeds_and_scalar_hyperparameters():
    a = population_key(["algo.lr=1e-3", "seed=0", "env.num_envs=8", "algo.gamma=0.9"])
    assert a == population_key(["seed=4", "env.num_envs=8", "+algo.ent_coef=0.1", "algo.lr=3e-4"])
    assert a != population_key(["seed=0", "env.num_envs=16"])
    assert a != population_key(["seed=0", "env.num_envs=8", "algo.update_epochs=4"])
    assert a != population_key(["seed=0", "env.num_envs=8", "algo.optimizer=adam"])  # A2C's
    assert a == population_key(["seed=1", "env.num_envs=8", "algo.vf_lr=3e-4", "algo.advantage=gae"])  # VPG's


def assert_same(a, b, path="checkpoint"):
    """Two checkpoint values are equal, tensors bit for bit (timings and the run's own paths apart)."""
    if isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for key in a:
            if key in ("wall_s", "phase_seconds", "pglab_config") or str(key).startswith("time/"):
                continue
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    else:
        assert a == b or (a != a and b != b), (path, a, b)


@pytest.mark.parametrize(
    "base",
    [TORCH_PPO, SYNC_PPO, TORCH_A2C, SYNC_A2C, TORCH_VPG, TORCH_REINFORCE],
    ids=["torch-backend", "gymnasium-backend", "a2c-torch", "a2c-gymnasium", "vpg-torch", "reinforce-torch"],
)
def test_a_members_checkpoints_are_its_own_runs_checkpoints(make_cfg, tmp_path, base):
    jobs = [base + ("seed=5",), base + ("seed=6", "algo.ent_coef=0.01")]
    run(make_cfg(*jobs[1], output_dir=tmp_path / "alone"), list(jobs[1]))
    together = train_population(make_cfg, tmp_path, "member", jobs)
    for name in ("last.ckpt", "best.ckpt"):
        theirs = torch.load(tmp_path / "alone" / "checkpoints" / name, weights_only=False)
        ours = torch.load(together[1] / "checkpoints" / name, weights_only=False)
        assert ours["collector"]["env_state"] is not None
        assert_same(ours, theirs)


@pytest.mark.parametrize(
    "base, diverge",
    [
        (TORCH_PPO, "algo.vf_coef=1e38"),
        (TORCH_A2C, "algo.vf_coef=1e38"),
        (TORCH_VPG, "algo.vf_lr=1e30"),  # in a value step
        (TORCH_VPG, "algo.ent_coef=1e38"),  # in the policy step
        (SYNC_REINFORCE, "algo.ent_coef=1e38"),
    ],
    ids=["ppo", "a2c", "vpg-value", "vpg-policy", "reinforce"],
)
def test_a_diverging_member_fails_alone_as_its_own_run_would(make_cfg, tmp_path, base, diverge):
    jobs = [base + ("seed=0",), base + ("seed=1", diverge)]  # an infinite loss or gradient
    run(make_cfg(*jobs[0], output_dir=tmp_path / "alone0"), list(jobs[0]))
    with pytest.raises(DivergenceError) as alone:
        run(make_cfg(*jobs[1], output_dir=tmp_path / "alone1"), list(jobs[1]))
    dirs = [tmp_path / "member0", tmp_path / "member1"]
    results = run_population([(make_cfg(*j, output_dir=d), list(j)) for j, d in zip(jobs, dirs, strict=True)])
    assert results[0]["status"] == "completed" and metrics(dirs[0]) == metrics(tmp_path / "alone0")
    assert isinstance(results[1], DivergenceError) and str(results[1]) == str(alone.value).replace(
        "alone1", "member1"
    )
    assert metrics(dirs[1]) == metrics(tmp_path / "alone1")  # no row for the update that diverged
    ours, theirs = (json.loads((d / "summary.json").read_text()) for d in (dirs[1], tmp_path / "alone1"))
    assert ours["status"] == "failed" and ours["progress/env_steps"] == theirs["progress/env_steps"]


@pytest.mark.parametrize(
    "base, diverge",
    [
        (TORCH_PPO, "algo.vf_coef=1e38"),
        (TORCH_A2C, "algo.vf_coef=1e38"),
        (TORCH_VPG, "algo.ent_coef=1e38"),
        (TORCH_REINFORCE, "algo.ent_coef=1e38"),
    ],
    ids=["ppo", "a2c", "vpg", "reinforce"],
)
def test_a_member_skipping_non_finite_steps_trains_as_its_own_run(make_cfg, tmp_path, base, diverge):
    jobs = [base + ("seed=0", "on_nonfinite=skip"), base + ("seed=1", "on_nonfinite=skip", diverge)]
    for k, job in enumerate(jobs):
        run(make_cfg(*job, output_dir=tmp_path / f"alone{k}"), list(job))
    together = train_population(make_cfg, tmp_path, "member", jobs)
    rows = metrics(together[1])
    skipped = [
        float(row["diagnostics/skipped_updates"]) for row in rows if row["diagnostics/skipped_updates"]
    ]
    assert skipped[-1] > 0 and skipped == sorted(skipped)
    for k, run_dir in enumerate(together):
        assert metrics(run_dir) == metrics(tmp_path / f"alone{k}")


def stop_population_at(monkeypatch, steps: int, member: int = 0) -> None:
    """Stop populations as a SIGINT during the update of the rollout at which `member` reaches `steps` env steps."""
    on_train_epoch_end = PopulationModule.on_train_epoch_end

    def stop_there(population):
        reached = population.members[member].module.collector.env_steps >= steps
        if population.stop_signal is None and reached:
            population.stop_signal = "SIGINT"
        on_train_epoch_end(population)

    monkeypatch.setattr(PopulationModule, "on_train_epoch_end", stop_there)


def test_a_member_that_reached_its_score_before_a_signal_completed_and_the_others_were_interrupted(
    make_cfg, tmp_path, monkeypatch
):
    jobs = [TORCH_PPO + ("seed=0", "callbacks.evaluation.stop_at_score=0"), TORCH_PPO + ("seed=1",)]
    alone = run(make_cfg(*jobs[0], output_dir=tmp_path / "alone"), list(jobs[0]))
    assert (alone["status"], alone["progress/env_steps"]) == ("completed", 2048)  # its first evaluation
    stop_population_at(monkeypatch, 4096, member=1)
    dirs = [tmp_path / f"member{k}" for k in range(len(jobs))]
    results = run_population([(make_cfg(*j, output_dir=d), list(j)) for j, d in zip(jobs, dirs, strict=True)])
    assert [(r["status"], r["progress/env_steps"]) for r in results] == [
        ("completed", 2048),
        ("interrupted", 4096),
    ]
    assert metrics(dirs[0]) == metrics(tmp_path / "alone")
    assert json.loads((dirs[0] / "summary.json").read_text())["status"] == "completed"
    for name in ("last.ckpt", "best.ckpt"):  # its run ended where it completed, its env block as it was then
        ours, theirs = (
            torch.load(d / "checkpoints" / name, weights_only=False) for d in (dirs[0], tmp_path / "alone")
        )
        assert_same(ours, theirs)


@pytest.mark.parametrize(
    "base, collection",
    [
        (SYNC_REINFORCE, "each member's own envs, stepped together"),
        (TORCH_REINFORCE, "one batched env of every member's sub-envs"),  # a waiting member's rows held
    ],
    ids=["gymnasium", "torch"],
)
def test_members_completing_after_different_rollouts_end_as_their_own_runs(
    make_cfg, tmp_path, caplog, base, collection
):
    # REINFORCE's members spend their env steps at different rates (whole episodes), so they complete apart
    jobs = [base + ("seed=0",), base + ("seed=1", "algo.lr=5e-2")]
    for k, job in enumerate(jobs):
        run(make_cfg(*job, output_dir=tmp_path / f"alone{k}"), list(job))
    with caplog.at_level(logging.INFO, logger="pglab.population.run"):
        together = train_population(make_cfg, tmp_path, "member", jobs)
    assert f"Collection: {collection}" in caplog.text
    rollouts = [metrics(d)[-1]["progress/rollouts"] for d in together]
    assert rollouts[0] != rollouts[1]
    for k, run_dir in enumerate(together):
        assert metrics(run_dir) == metrics(tmp_path / f"alone{k}")
        for name in ("last.ckpt", "best.ckpt"):
            ours, theirs = (
                torch.load(d / "checkpoints" / name, weights_only=False)
                for d in (run_dir, tmp_path / f"alone{k}")
            )
            assert_same(ours, theirs)  # the loop counters of the rollout it completed at included


@pytest.mark.parametrize(
    "base, stop_at",
    [
        (TORCH_PPO, 3072),
        (SYNC_PPO, 1024),
        (SYNC_PPO + ("env.num_envs=1",), 1024),
        (TORCH_A2C, 2000),
        (SYNC_VPG, 2048),
        (SYNC_REINFORCE, 1500),
        (TORCH_REINFORCE, 1500),
    ],
    ids=[
        "torch-backend",
        "gymnasium-backend",
        "gymnasium-one-sub-env",
        "a2c-torch",
        "vpg-gymnasium",
        "reinforce-gymnasium",
        "reinforce-torch",
    ],
)
def test_a_stopped_population_resumed_as_one_continues_bit_for_bit(
    make_cfg, tmp_path, monkeypatch, base, stop_at
):
    jobs = [base + ("seed=7",), base + ("seed=8", "algo.lr=1e-3", "algo.gamma=0.95")]
    straight = train_population(make_cfg, tmp_path, "straight", jobs)
    totals = [json.loads((d / "summary.json").read_text())["progress/env_steps"] for d in straight]

    stop_population_at(monkeypatch, stop_at)
    dirs = [tmp_path / f"stopped{k}" for k in range(len(jobs))]
    first = run_population([(make_cfg(*j, output_dir=d), list(j)) for j, d in zip(jobs, dirs, strict=True)])
    steps = [r["progress/env_steps"] for r in first]
    assert [r["status"] for r in first] == ["interrupted"] * 2 and steps[0] >= stop_at
    if base not in (SYNC_REINFORCE, TORCH_REINFORCE):  # (REINFORCE's stop after the same rollouts, not steps)
        assert steps == [stop_at] * 2
    monkeypatch.undo()

    resumed = run_population(
        [
            (make_cfg(f"resume={d}", output_dir=tmp_path / f"job{k}"), [f"resume={d}"])
            for k, d in enumerate(dirs)
        ]
    )
    assert [(r["status"], r["progress/env_steps"]) for r in resumed] == [("completed", t) for t in totals]
    for alone, member in zip(straight, dirs, strict=True):
        assert metrics(member) == metrics(alone)  # one curve: no gap, no repeated row, every value the same
        for name in ("last.ckpt", "best.ckpt"):
            ours, theirs = (torch.load(d / "checkpoints" / name, weights_only=False) for d in (member, alone))
            if (
                name == "best.ckpt"
            ):  # written at the stop, after the rollout's counters moved on: the training
                # state is the straight run's, the loop counters and checkpoint schedule are the stop's
                ours, theirs = (
                    {key: c[key] for key in ("state_dict", "optimizer_states", "collector", "metrics", "rng")}
                    | {"best": c["callbacks"]["EnvStepCheckpoint"]["best"]}
                    for c in (ours, theirs)
                )
            assert_same(ours, theirs)


def test_members_resumed_from_different_points_train_as_one_population_per_point(make_cfg, tmp_path):
    jobs = [TORCH_PPO + ("seed=0",), TORCH_PPO + ("seed=1",)]
    run(make_cfg(*jobs[1], output_dir=tmp_path / "alone"), list(jobs[1]))
    (done,) = train_population(make_cfg, tmp_path, "done", [jobs[0]])
    before = metrics(done)
    results = run_population(
        [
            (make_cfg(f"resume={done}", output_dir=tmp_path / "job"), [f"resume={done}"]),  # at its budget
            (make_cfg(*jobs[1], output_dir=tmp_path / "new"), list(jobs[1])),  # from the start
        ]
    )
    assert [(r["status"], r["progress/env_steps"]) for r in results] == [("completed", 6144)] * 2
    assert metrics(done) == before  # nothing more to train: the curve is as it was
    assert metrics(tmp_path / "new") == metrics(tmp_path / "alone")


def test_a_run_given_twice_trains_once_and_the_repeat_fails_in_its_own_job_dir(make_cfg, tmp_path):
    (done,) = train_population(make_cfg, tmp_path, "done", [TORCH_PPO + ("seed=0",)])
    before = metrics(done)
    results = run_population(
        [(make_cfg(f"resume={done}", output_dir=tmp_path / f"job{k}"), [f"resume={done}"]) for k in range(2)]
    )
    assert results[0]["status"] == "completed"
    assert isinstance(results[1], ConfigError) and "another job's run dir" in str(results[1])
    assert json.loads((tmp_path / "job1" / "summary.json").read_text())["status"] == "failed"
    assert metrics(done) == before  # one curve, no row written twice
