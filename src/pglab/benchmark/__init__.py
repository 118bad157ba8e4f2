"""Benchmark pglab against Stable-Baselines3, a plain PyTorch PPO and the env's own ceiling, and its torch env
backend against its gymnasium one, on this machine.

    python scripts/benchmark.py                # the full benchmark: thread calibration, 3 interleaved repeats,
                                               #   27-42 min on 2 cores, then the torch env backend's section
                                               #   (5 seeds, ~5-8 min)
    python scripts/benchmark.py --quick        # tiny budgets, one repeat: a smoke check of the harness (~5 min)
    python scripts/benchmark.py --repeats 5    # more repeats for tighter min-max ranges
    python scripts/benchmark.py --threads 1    # every framework with 1 torch thread, no calibration

Needs the `bench` extra: `pip install -c constraints.txt -e ".[dev,bench]"` (Stable-Baselines3).

Everything runs in one session so that the ratios compare runs that shared the machine's state. Each measured
run is its own child process (`python -m pglab.benchmark.child_process`, not meant to be called by hand),
started fresh so that imports, memory and startup are measured as a user meets them. Repeat k uses seed
`--seed + k` on every side; within a repeat each pglab run is followed by its Stable-Baselines3 counterpart
(the order flips on odd repeats), so machine noise hits both. Reported: median and min-max over the repeats; a
ratio is taken per repeat (the two runs ran back to back), then summarized.

Thread settings: before the timed runs, a short calibration trains the headline PPO (`experiment=ppo_cartpole`,
SB3 with the same hyperparameters, the plain PyTorch PPO with pglab's) for 8,192 env steps at each candidate
torch thread count (`--threads`; default 1, 2, 4, ... below the usable cores and their count: 1 and 2 on 2
cores), twice, the order of the counts reversed the second time; a count under half its framework's best
steps/s after the first round skips the second (on a busy machine an extra thread can run 50x slower). Each
framework then trains every timed run at the count with its highest median steps/s: pglab through its
config key `torch_threads`, SB3 and the plain PPO through `torch.set_num_threads`; the ceiling takes
pglab's. The report states each framework's count and the calibration's steps/s.

What is measured, all on CartPole-v1:

1. Training steps/s of each pglab algorithm, with the presets `experiment=<algo>_cartpole` (budgets 100k for
   PPO, 300k for the others), through the real entry point: `train.py` runs as `__main__` in the child with
   `logger=none`, evaluating every 10k env steps on 20 episodes (the defaults). pglab times its own phases;
   the child reads them from the run's `summary.json` and its last rollout's metrics: steps/s =
   `progress/env_steps` / (`time/wall_s` - `time/eval_s`). (pglab's own `time/sps`, which includes
   evaluations, is kept in the JSON as `reported_sps`.) The evaluations' returns and the training seconds at
   each come from the rows that a small logger, `EvaluationClock`, added to the run by a config override,
   keeps and writes at the end.
2. The same PPO and A2C hyperparameters in Stable-Baselines3 (`DummyVecEnv`, device cpu, SB3's own calibrated
   torch thread count), mapped from the composed pglab config by `sb3_hyperparameters` (see its docstring),
   evaluated on the same schedule (same env steps, episodes, seeds) by a callback whose time is excluded the
   same way. The SB3 child imports no pglab code beyond this package (pglab's evaluation seeds come in its
   spec), so its memory and startup are SB3's own. Reported: steps/s, the ratio pglab / SB3, and the training
   seconds and env steps to a stable solve (evaluation return >= 475 at that evaluation and every later one),
   evaluation time excluded, for every pglab preset and for SB3's tuned RL Zoo CartPole PPO
   (`RL_ZOO_PPO_CARTPOLE`). The headline solve ratio is same algorithm, same hyperparameters: pglab's
   `ppo_cartpole` (RL Zoo's CartPole PPO hyperparameters) / SB3's PPO with them, a ratio of median seconds;
   the second line is the best pglab preset (solved in the most repeats, then the fastest) / RL Zoo's PPO.
3. The ceiling: pglab's vector env (`make_vector_env`, the preset's `num_envs`) stepped with an untrained
   policy built as `train.py` builds it, forward pass and sampling only, no learning: (a) a raw loop of
   `policy.act` + `env.step` under `torch.no_grad()`, (b) the algorithm's own `collect_rollout()` (the
   `RolloutCollector`) and `prepare_batch()` (advantages and batching) in a loop. Reported: training steps/s
   and collection-plus-advantages steps/s (collection alone beside it) as fractions of (a).
4. Peak resident memory of every run (`ru_maxrss` of the waited child, from `os.wait4`, as `/usr/bin/time`
   reads it; the parent imports neither torch nor Lightning, whose peak the children would inherit: see
   `plan`), also of a plain single-file PyTorch PPO with pglab's PPO hyperparameters (`child_plain_ppo`,
   CleanRL-style, no Lightning/Hydra), and the time from process start (the parent's clock just before it
   starts the child) to the first env step: a one-shot wrapper around the step of the library's vector env
   class (gymnasium's `SyncVectorEnv.step` for pglab and the plain PPO, SB3's `DummyVecEnv.step_async`).
5. Where the training time goes, for pglab and SB3 alike: seconds in rollout collection, in advantage
   computation, in gradient updates, and the rest (the training loop, callbacks, logging, checkpoints),
   reported in ms per 1,000 env steps. pglab: its own `time/collect_s`, `time/advantages_s` (with batching)
   and `time/update_s` from `summary.json` (the rest: `time/wall_s` - `time/eval_s` - those three). SB3, which
   reports no such breakdown: timing wrappers (`timed_calls`) around its `collect_rollouts` (evaluations
   inside it excluded), the `RolloutBuffer.compute_returns_and_advantage` (GAE) that `collect_rollouts` ends
   with, and `train`. Collection compares like for like as collection + advantages on both sides (SB3's
   `collect_rollouts` as a whole): the table's first column and the headline ratio of collection throughput,
   pglab / SB3, taken per repeat.
6. The torch env backend (`env.vectorization=torch`: `pglab.envs.batched` and its on-device collector), after the
   repeats, every run with one torch thread, over `Budget.torch_seeds` seeds (5; seed `--seed + j`), reported as
   the median and the worst seed (a seed that never solves counts as infinitely slow) with a verdict per target
   (`summary.TORCH_TARGETS`, issue 15's): (a) the env alone, CartPole-v1 at 4,096 sub-envs stepped with uniform
   random actions drawn on the device, and collection at 1,024 sub-envs with an untrained 64x64 policy built from
   `ppo_cartpole_torch` as `train.py` builds it: a bare `policy.act` + `env.step` loop, pglab's
   `collect_rollout()` (the verdict's number) and it plus `prepare_batch()` (`child_batched`, timed after a
   warm-up); (b) PPO training steps/s of `ppo_cartpole_torch env.num_envs=1024` (its steps per env per rollout,
   epochs and minibatch count kept: 16,384-sample rollouts; the report prints the exact command), evaluation
   excluded, and its median / the repeats'
   gymnasium `ppo_cartpole` median (pglab's calibrated thread count); (c) `ppo_cartpole_torch` as it is: the
   training wall time, evaluations included, at its first evaluation >= 475 (median and worst seed), and the
   training seconds to its stable solve, evaluation excluded, over RL Zoo PPO's from the repeats (a ratio of
   medians, like for like); (d) the Acrobot and Pendulum torch presets next to the gymnasium-backend presets
   `ppo_acrobot` / `ppo_pendulum` (pglab's calibrated count), `Budget.pair_seeds` seed(s) (one: the gymnasium
   presets take 25-60 s each): final evaluation return and wall time, evaluations included; (e) the gymnasium
   backend's PPO and A2C steps/s / SB3's, both single-threaded: the repeats' own pairs when the calibration gave
   both frameworks one thread, else `Budget.single_thread_repeats` repeats of 32k-env-step pairs at one thread.
   All evaluations follow the repeats' schedule (every 10k env steps, 20 episodes), whatever a preset sets.

Writes `docs/benchmarks.md` (machine, versions, tables), `docs/benchmarks.json` (every run's raw numbers) and
`docs/figures/benchmark.png`; `--quick` writes to `outputs/benchmark-quick/` instead, so a smoke check never
replaces the report. Run dirs and child logs go to `outputs/benchmark/<time>/`.

Modules, in the order a benchmark uses them: `plan` (budgets, presets, the calibration runs, the runs of a repeat
and of the torch env backend's section), `sb3_config` (pglab's hyperparameters in SB3's terms), `child_process`
(start a child, and the child's entry point), the children `child_pglab`, `child_sb3`, `child_plain_ppo`,
`child_ceiling`, `child_batched` (with `timing`, their clocks), `evaluation_clock` (the pglab run's logger),
`summary` (thread picks, solves, spreads, ratios; the torch backend's medians, worst seeds and targets), `report`
(markdown and JSON), `figure` (the PNG) and `cli`. This package imports nothing heavy: a child imports only what
its own run needs.
"""
