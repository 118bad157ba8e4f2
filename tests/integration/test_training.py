"""Training end to end in-process: one rollout per epoch, batch shapes, budgets, reports, determinism."""

import csv
import json

import pytest
import torch
from hydra.utils import instantiate

from pglab.rollout.collector import RolloutCollector
from pglab.rollout.dataset import RolloutDataset
from pglab.train import run


def read_metrics(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def column(rows, key) -> list[float]:
    return [float(r[key]) for r in rows if r[key]]


def build(cfg, num_envs=None):
    env = instantiate(cfg.env)() if num_envs is None else instantiate(cfg.env)(num_envs=num_envs)
    collector = RolloutCollector(env, seed=cfg.seed)
    module = instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
    )
    return module, collector


def test_ppo_dataset_yields_the_rollout_once_and_each_epoch_splits_it_into_shuffled_minibatches(make_cfg):
    # PPO's whole update is one Lightning step: the dataset yields the rollout, training_step splits it.
    cfg = make_cfg(
        "algo=ppo", "env.num_envs=2", "algo.num_steps=8", "algo.num_minibatches=4", "algo.update_epochs=3"
    )
    module, collector = build(cfg)
    collects = []
    dataset = RolloutDataset(
        lambda: collects.append(1) or module.prepare_batch(collector.collect(module.policy, 8))
    )
    batches = list(dataset)
    assert len(collects) == 1 and [len(b) for b in batches] == [16]
    (batch,) = batches
    for _ in range(3):  # each epoch: a permutation of the same 16 samples in 4 minibatches of 4
        minibatches = list(batch.minibatches(4))
        for minibatch in minibatches:
            assert minibatch.obs.shape == (4, 4) and minibatch.actions.shape == (4,)
            assert (
                minibatch.advantages.shape == minibatch.returns.shape == minibatch.old_log_probs.shape == (4,)
            )
        assert sorted(x for m in minibatches for x in m.old_log_probs.tolist()) == sorted(
            batch.old_log_probs.tolist()
        )


@pytest.mark.parametrize("algo", ["a2c", "vpg"])
def test_single_batch_algorithms_yield_the_whole_rollout(make_cfg, algo):
    cfg = make_cfg(f"algo={algo}", "env.num_envs=3", "algo.num_steps=7")
    module, collector = build(cfg)
    batches = list(RolloutDataset(lambda: module.prepare_batch(collector.collect(module.policy, 7))))
    assert [len(b) for b in batches] == [21]


def test_one_rollout_per_lightning_epoch_and_budget_respected(make_cfg, tmp_path):
    cfg = make_cfg(
        "algo=ppo",
        "debug=smoke",
        "total_env_steps=1000",
        "algo.num_steps=50",
        "algo.update_epochs=2",
        "algo.num_minibatches=5",
    )
    summary = run(cfg)
    # 2 envs x 50 steps = 100 env steps per rollout: 10 rollouts (epochs), 2 x 5 gradient steps each.
    assert summary["progress/env_steps"] == 1000
    steps = column(read_metrics(tmp_path), "step")
    assert sorted(set(steps)) == list(range(100, 1001, 100))
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["epoch"] == 10  # 10 epochs done, 10 optimizer steps each (Adam counts them per parameter)
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == 10 * 2 * 5
    assert ckpt["collector"]["env_steps"] == 1000
    for name in ("summary.json", "learning_curve.png", "config.yaml", "checkpoints/best.ckpt"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "summary.json").read_text())
    for key in (
        "eval/episode_return_mean",
        "eval/episode_return_std",
        "progress/env_steps",
        "time/wall_s",
        "time/sps",
    ):
        assert key in saved
    # time/sps is logged with the last rollout; time/wall_s also counts the final evaluation and checkpoint after it
    # (how long those take relative to a 1,000-step run depends on the machine's load: no fixed ratio holds)
    assert saved["time/sps"] >= saved["progress/env_steps"] / saved["time/wall_s"] > 0


@pytest.mark.parametrize("algo", ["reinforce", "ppo"])
def test_same_seed_same_metrics_different_seed_different_metrics(make_cfg, tmp_path, algo):
    def metrics(seed, name):
        cfg = make_cfg(f"algo={algo}", "debug=smoke", f"seed={seed}", output_dir=tmp_path / name)
        run(cfg)
        return [
            {k: v for k, v in row.items() if not k.startswith("time/") or k == "progress/env_steps"}
            for row in read_metrics(tmp_path / name)
        ]

    first, again, other = metrics(0, "a"), metrics(0, "b"), metrics(1, "c")
    assert len(first) >= 4
    assert first == again
    assert first != other


def test_asynchronous_vector_env_trains(make_cfg):
    summary = run(make_cfg("algo=a2c", "debug=smoke", "env.vectorization=async", "logger=none"))
    assert summary["progress/env_steps"] == 2000


def test_ppo_target_kl_stops_the_rest_of_each_update(make_cfg, tmp_path):
    # The first minibatch of an update has ratio 1 (KL 0) and is applied; after that step the KL of the
    # next minibatch exceeds the tiny target, so it and all later ones are skipped: one step per rollout.
    cfg = make_cfg(
        "algo=ppo", "debug=smoke", "algo.num_minibatches=4", "algo.update_epochs=3", "algo.target_kl=1e-9"
    )
    summary = run(cfg)
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    rollouts = summary["progress/env_steps"] // (2 * 32)
    assert ckpt["optimizer_states"][0]["state"][0]["step"] == rollouts
    early = column(read_metrics(tmp_path), "diagnostics/early_stop")
    assert early and all(value == pytest.approx(0.5) for value in early)  # one applied, one stopped


def test_linear_lr_annealing_follows_env_steps(make_cfg, tmp_path):
    cfg = make_cfg("algo=ppo", "debug=smoke", "total_env_steps=640", "algo.num_steps=64", "algo.lr=0.01")
    run(cfg)
    lrs = column(read_metrics(tmp_path), "optim/lr")
    # 5 rollouts of 128 env steps; the k-th update uses lr * (1 - 128 k / 640), k = 0..4
    assert lrs == pytest.approx([0.01 * (1 - 128 * k / 640) for k in range(5)])


def test_hooks_around_the_backward_run_where_a_callback_has_them_and_change_nothing(
    make_cfg, tmp_path, monkeypatch
):
    """Without hooks around the backward, `gradient_step` calls `loss.backward()` itself (`backward_is_plain`); a
    callback with such hooks gets Lightning's `manual_backward`, each hook once a gradient step, and the same
    training, bit for bit."""
    import pglab.train as train_module
    from pglab.algos.base import PolicyGradientModule
    from tests.fakes import CountsBackwards

    plain, decide = [], PolicyGradientModule.backward_is_plain
    monkeypatch.setattr(
        PolicyGradientModule, "backward_is_plain", lambda module: plain.append(decide(module)) or plain[-1]
    )

    def metrics(name):
        run(make_cfg("algo=a2c", "debug=smoke", output_dir=tmp_path / name))
        return [
            {k: v for k, v in row.items() if not k.startswith("time/")}
            for row in read_metrics(tmp_path / name)
        ]

    without = metrics("plain")
    counter, build = CountsBackwards(), train_module.build

    def build_with_counter(*args):
        module, trainer = build(*args)
        trainer.callbacks.append(counter)
        return module, trainer

    monkeypatch.setattr(train_module, "build", build_with_counter)
    with_hooks = metrics("hooked")
    assert plain == [True, False]
    updates = int(float(with_hooks[-1]["progress/rollouts"]))
    assert updates >= 4 and counter.before == counter.after == updates
    assert with_hooks == without
