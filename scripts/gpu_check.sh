#!/usr/bin/env bash
# pglab's GPU check, for a machine with a CUDA GPU: under 8 minutes on one GPU by default (GPU_CHECK_BUDGET_S).
#
#   bash scripts/gpu_check.sh                  the whole check, from any dir (it runs in the repo root)
#   bash scripts/gpu_check.sh --report RUN_DIR  only the report of a finished run dir (no GPU needed)
#
# What it runs, in order, with $PYTHON (default .venv/bin/python):
#   1. `nvidia-smi -L` and torch's CUDA build and devices; exit 1 at once when PyTorch sees no CUDA GPU;
#   2. `pytest -m gpu` (tests/e2e/test_gpu.py: every algorithm trains a smoke budget with accelerator=gpu on
#      CartPole and Pendulum, evaluate.py device=cuda reproduces device=cpu, two-GPU DDP when 2 GPUs are seen);
#   3. PPO on CartPole on the GPU, `experiment=ppo_cartpole accelerator=gpu seed=0` (100k env steps); then the
#      torch env backend on cuda: CartPole's env alone and collection at 65,536 sub-envs, and PPO with
#      `experiment=ppo_cartpole_torch accelerator=gpu env.num_envs=4096` for 2M env steps (2 minutes at most each);
#   4. with the time left, PPO on Pong, `experiment=ppo_pong accelerator=gpu seed=0`, sent SIGINT at the deadline
#      (as `timeout -s INT` would: pglab finishes the update, writes last.ckpt, marks the run interrupted and exits
#      130), so it trains as many env steps as fit whatever bounds it (the GPU, or async envs on too few cores);
#      then `evaluate.py device=cuda` of its last checkpoint.
# Each step has a deadline (SIGINT, then SIGKILL 60 s later). What it prints, all measured here: the test
# results; for each run its env steps, wall time, env steps/s, the seconds spent collecting (envs + policy
# sampling) vs updating, the final evaluation, the evaluation curve (env step, eval return) and a sampled
# training curve from csv/metrics.csv; a PASS/FAIL/SKIP line per step. Runs and logs go to
# outputs/gpu_check/<timestamp>/. Exit 0 when no step failed, 1 otherwise, 130 after a Ctrl-C (the step running
# stops as after its deadline).
#
# Environment: GPU_CHECK_BUDGET_S (all steps, default 470 s), GPU_CHECK_PYTEST_TIMEOUT_S (default 240),
# GPU_CHECK_PYTEST_WORKERS (pytest-xdist processes, default 4), GPU_CHECK_CARTPOLE_TIMEOUT_S (default 150),
# GPU_CHECK_PONG_STEPS (Pong's total_env_steps, default the preset's 10M: the deadline stops it first),
# GPU_CHECK_PONG_ARGS (more Pong overrides, e.g. "env.num_envs=16"), PYTHON.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
BUDGET_S="${GPU_CHECK_BUDGET_S:-470}"
PYTEST_TIMEOUT_S="${GPU_CHECK_PYTEST_TIMEOUT_S:-240}"
PYTEST_WORKERS="${GPU_CHECK_PYTEST_WORKERS:-4}"
CARTPOLE_TIMEOUT_S="${GPU_CHECK_CARTPOLE_TIMEOUT_S:-150}"
PONG_STEPS="${GPU_CHECK_PONG_STEPS:-10000000}"
PONG_ARGS="${GPU_CHECK_PONG_ARGS:-}"
PONG_MIN_S=60         # a shorter Pong run would not reach its first update and evaluation: skipped
PONG_AFTER_S=60       # kept after the Pong run for its evaluate.py (imports, env start, 4 games) and the report
KILL_AFTER_S=60       # SIGKILL a step that has not stopped this long after its deadline's SIGINT

# report RUN_DIR: a run's summary.json and csv/metrics.csv, as measured (exit 1 if it has no summary.json).
report() {
	"$PYTHON" - "$1" <<'PY'
import csv
import json
import math
import sys
from pathlib import Path

run_dir = Path(sys.argv[1])
path = run_dir / "summary.json"
if not path.is_file():
    print(f"  {run_dir}: no summary.json (the run stopped before its first update, or never started)")
    sys.exit(1)
s = json.loads(path.read_text())
status = s.get("status", "?") + (f" by {s['signal']}" if s.get("signal") else "")
steps, wall = s.get("progress/env_steps", 0), s.get("time/wall_s", math.nan)
print(f"  status {status}: {steps:,.0f} env steps in {wall:.1f} s, {s.get('time/sps', math.nan):,.0f} env steps/s")
if "error" in s:
    print(f"  error: {s['error']}")
if "time/collect_s" in s:
    train_s = wall - s.get("time/eval_s", 0.0)
    print(
        f"  {steps / train_s if train_s > 0 else math.nan:,.0f} env steps/s without evaluation; of {wall:.1f} s: "
        + ", ".join(f"{key[5:-2]} {s[key]:.1f} s" for key in ("time/collect_s", "time/update_s", "time/eval_s"))
    )
if "eval/episode_return_mean" in s:
    print(
        f"  final evaluation: return {s['eval/episode_return_mean']:.2f} ± {s['eval/episode_return_std']:.2f} at "
        f"{s['eval/env_steps']:,.0f} env steps (episode length {s['eval/episode_length_mean']:.1f})"
    )
else:
    print("  no evaluation logged")
metrics = run_dir / "csv" / "metrics.csv"
if metrics.is_file():
    with open(metrics, newline="") as file:
        rows = list(csv.DictReader(file))
    evals = [r for r in rows if r.get("eval/episode_return_mean")]
    print(f"  evaluation curve ({metrics}):")
    print("    env step     eval return")
    for r in evals:
        print(f"    {float(r['step']):>10,.0f}   {float(r['eval/episode_return_mean']):8.2f} ± {float(r['eval/episode_return_std']):.2f}")
    train = [r for r in rows if r.get("rollout/episode_return_mean")]
    if train:
        shown = sorted({round(i * (len(train) - 1) / 9) for i in range(10)})
        print(f"  training episodes (rollout/episode_return_mean, {len(shown)} of {len(train)} logged rollouts):")
        print("    env step     return")
        for i in shown:
            print(f"    {float(train[i]['step']):>10,.0f}   {float(train[i]['rollout/episode_return_mean']):8.2f}")
for path in sorted((run_dir / "checkpoints").glob("*-eval-*.json")):
    e = json.loads(path.read_text())
    at = f"{e['env_steps']:,}" if e["env_steps"] is not None else "?"
    print(
        f"  evaluate.py of {Path(e['checkpoint']).name} at {at} env steps: return "
        f"{e['episode_return_mean']:.2f} ± {e['episode_return_std']:.2f} over {e['episodes']} "
        f"{'deterministic' if e['deterministic'] else 'sampled'} episodes {e['returns']} ({path.name})"
    )
PY
}

if [[ "${1:-}" == "--report" ]]; then
	[[ $# -eq 2 ]] || { echo "usage: $0 --report RUN_DIR" >&2; exit 2; }
	report "$2"
	exit
fi
[[ $# -eq 0 ]] || { echo "usage: $0 [--report RUN_DIR] (settings come from GPU_CHECK_* variables)" >&2; exit 2; }

[[ -x "$PYTHON" ]] || { echo "gpu_check: $PYTHON not found; run make setup, or set PYTHON" >&2; exit 1; }
echo "== GPUs"
if command -v nvidia-smi >/dev/null; then
	nvidia-smi -L || echo "nvidia-smi -L failed (exit $?)"
else
	echo "nvidia-smi: not found"
fi
if ! "$PYTHON" - <<'PY'; then
import os
import sys

import torch

print(f"torch {torch.__version__}, built with CUDA {torch.version.cuda}, {os.cpu_count()} CPU cores")
if not torch.cuda.is_available():
    sys.exit(1)
print(f"cuDNN {torch.backends.cudnn.version()}; {torch.cuda.device_count()} CUDA device(s):")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"  cuda:{i} {p.name}, compute capability {p.major}.{p.minor}, {p.total_memory / 2**30:.1f} GiB")
PY
	echo "gpu_check: FAILED: PyTorch sees no CUDA GPU (torch.cuda.is_available() is False); run this on a machine" \
		"with an NVIDIA GPU, its driver and a CUDA build of torch" >&2
	exit 1
fi

OUT="outputs/gpu_check/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
echo "Runs and logs: $OUT; budget ${BUDGET_S} s"
RESULTS=()
FAILED=0
record() { # record PASS|FAIL|SKIP STEP DETAIL
	RESULTS+=("$1 $2: $3")
	[[ "$1" != FAIL ]] || FAILED=1
}
left() { echo $((BUDGET_S - SECONDS)); }

# bounded SECONDS LOG CMD...: CMD with its output in LOG, sent SIGINT after SECONDS (DEADLINE_HIT=1 then) and
# SIGKILL KILL_AFTER_S later; returns its exit code. CMD runs in a process group of its own (set -m), so each
# SIGINT reaches it once: the deadline's, or a Ctrl-C's forwarded by on_interrupt. (A second SIGINT stops pglab
# at once, without a checkpoint, and `timeout` would add its own forwarded copy to the terminal's.)
CHILD=""
INTERRUPTED=0
DEADLINE_HIT=0
# shellcheck disable=SC2329  # called by the INT trap
on_interrupt() {
	INTERRUPTED=1
	[[ -z "$CHILD" ]] || kill -INT "$CHILD" 2>/dev/null || true
}
trap on_interrupt INT
bounded() {
	local seconds=$1 log=$2 signalled=0 code=0
	shift 2
	DEADLINE_HIT=0
	set -m
	"$@" >"$log" 2>&1 &
	CHILD=$!
	set +m
	local deadline=$((SECONDS + seconds))
	while kill -0 "$CHILD" 2>/dev/null; do
		if ((SECONDS >= deadline && signalled == 0)); then
			kill -INT "$CHILD" 2>/dev/null || true
			signalled=1 DEADLINE_HIT=1 deadline=$((SECONDS + KILL_AFTER_S))
		elif ((SECONDS >= deadline && signalled == 1)); then
			kill -KILL "$CHILD" 2>/dev/null || true
			signalled=2
		fi
		sleep 1 || true # a Ctrl-C ends the sleep; on_interrupt has passed it on
	done
	wait "$CHILD" || code=$?
	CHILD=""
	return "$code"
}
stop_if_interrupted() {
	if ((INTERRUPTED)); then
		echo "gpu_check: stopped by Ctrl-C after $SECONDS s; runs and logs in $OUT" >&2
		printf '  %s\n' "${RESULTS[@]}" >&2
		exit 130
	fi
}

echo
echo "== pytest -m gpu (deadline ${PYTEST_TIMEOUT_S} s)"
workers=()
if "$PYTHON" -c "import xdist" 2>/dev/null; then workers=(-n "$PYTEST_WORKERS"); fi
start=$SECONDS
code=0
bounded "$PYTEST_TIMEOUT_S" "$OUT/pytest.log" "$PYTHON" -m pytest -m gpu -q -rs "${workers[@]}" || code=$?
cat "$OUT/pytest.log"
if ((code == 0)); then
	record PASS "pytest -m gpu" "$(tail -n 1 "$OUT/pytest.log") ($((SECONDS - start)) s)"
else
	record FAIL "pytest -m gpu" "exit $code after $((SECONDS - start)) s$( ((DEADLINE_HIT)) && echo ", at its deadline"); see $OUT/pytest.log"
fi
stop_if_interrupted

echo
echo "== PPO on CartPole on the GPU: experiment=ppo_cartpole accelerator=gpu seed=0 (deadline ${CARTPOLE_TIMEOUT_S} s)"
run="$OUT/ppo_cartpole"
start=$SECONDS
code=0
bounded "$CARTPOLE_TIMEOUT_S" "$OUT/ppo_cartpole.log" \
	"$PYTHON" train.py experiment=ppo_cartpole accelerator=gpu seed=0 logger=csv "hydra.run.dir=$run" || code=$?
echo "  process: exit $code after $((SECONDS - start)) s (imports and env start included)"
if report "$run" && ((code == 0)); then
	record PASS ppo_cartpole "$((SECONDS - start)) s"
else
	tail -n 20 "$OUT/ppo_cartpole.log"
	record FAIL ppo_cartpole "exit $code$( ((DEADLINE_HIT)) && echo " at its deadline"); see $OUT/ppo_cartpole.log"
fi
stop_if_interrupted

echo
echo "== The torch env backend on cuda: CartPole at 65,536 sub-envs, then PPO (experiment=ppo_cartpole_torch accelerator=gpu env.num_envs=4096)"
start=$SECONDS
code=0
cat >"$OUT/torch_backend.py" <<'PY'
import time

import torch

from pglab.envs.batched import make_batched_env
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.batched_collector import BatchedRolloutCollector

n, device = 65_536, torch.device("cuda")
env = make_batched_env("CartPole-v1", n, device)
env.reset(seed=0)
actions = torch.randint(2, (200, n), device=device)
for k in range(20):
    env.step(actions[k])
torch.cuda.synchronize()
start = time.perf_counter()
for k in range(200):
    env.step(actions[k])
torch.cuda.synchronize()
print(f"  env alone, {n:,} sub-envs, random actions: {200 * n / (time.perf_counter() - start):,.0f} env steps/s")
collector = BatchedRolloutCollector(make_batched_env("CartPole-v1", n), seed=0)
policy = ActorCritic(env.single_observation_space, env.single_action_space).to(device)
collector.collect(policy, 16)
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(5):
    collector.collect(policy, 16)
torch.cuda.synchronize()
print(f"  collection, 64x64 policy, {n:,} sub-envs x 16 steps: {5 * 16 * n / (time.perf_counter() - start):,.0f} env steps/s")
PY
bounded 120 "$OUT/torch_backend.log" "$PYTHON" "$OUT/torch_backend.py" || code=$?
cat "$OUT/torch_backend.log"
run="$OUT/ppo_cartpole_torch"
bounded 120 "$OUT/ppo_cartpole_torch.log" \
	"$PYTHON" train.py experiment=ppo_cartpole_torch accelerator=gpu env.num_envs=4096 total_env_steps=2000000 \
	seed=0 logger=csv "hydra.run.dir=$run" || code=$?
if report "$run" && ((code == 0)); then
	record PASS torch_backend "$((SECONDS - start)) s"
else
	tail -n 20 "$OUT/ppo_cartpole_torch.log"
	record FAIL torch_backend "exit $code; see $OUT/torch_backend.log, $OUT/ppo_cartpole_torch.log"
fi
stop_if_interrupted

echo
pong_s=$(($(left) - PONG_AFTER_S))
if ((pong_s < PONG_MIN_S)); then
	echo "== PPO on Pong: skipped, ${pong_s} s left for it (at least ${PONG_MIN_S} s needed; raise GPU_CHECK_BUDGET_S)"
	record SKIP ppo_pong "${pong_s} s left"
else
	echo "== PPO on Pong on the GPU: experiment=ppo_pong accelerator=gpu seed=0 total_env_steps=$PONG_STEPS" \
		"$PONG_ARGS, sent SIGINT after ${pong_s} s"
	run="$OUT/ppo_pong"
	start=$SECONDS
	code=0
	# shellcheck disable=SC2086  # PONG_ARGS is a list of overrides
	bounded "$pong_s" "$OUT/ppo_pong.log" "$PYTHON" train.py experiment=ppo_pong accelerator=gpu seed=0 \
		"total_env_steps=$PONG_STEPS" $PONG_ARGS logger=csv "hydra.run.dir=$run" || code=$?
	echo "  process: exit $code after $((SECONDS - start)) s (130: stopped by the SIGINT at its deadline)"
	stop_if_interrupted
	if ((code == 0 || code == 130)) && [[ -f "$run/checkpoints/last.ckpt" ]]; then
		eval_s=$(($(left) - 5))
		if ((eval_s >= 20)); then
			episodes=$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["callbacks"]["evaluation"]["episodes"])' "$run/config.yaml")
			echo "  evaluate.py ckpt_path=$run/checkpoints/last.ckpt device=cuda episodes=$episodes (deadline ${eval_s} s)"
			eval_start=$SECONDS
			eval_code=0
			bounded "$eval_s" "$OUT/ppo_pong_evaluate.log" "$PYTHON" evaluate.py \
				"ckpt_path=$run/checkpoints/last.ckpt" device=cuda "episodes=$episodes" || eval_code=$?
			if ((eval_code == 0)); then
				echo "  evaluate.py: exit 0 after $((SECONDS - eval_start)) s (its result is the report's last line)"
			elif ((DEADLINE_HIT)); then # the budget, not the GPU path
				record SKIP "ppo_pong evaluate.py" "not done at its deadline (${eval_s} s)"
			else
				tail -n 20 "$OUT/ppo_pong_evaluate.log"
				record FAIL "ppo_pong evaluate.py" "exit $eval_code; see $OUT/ppo_pong_evaluate.log"
			fi
			stop_if_interrupted
		else
			echo "  evaluate.py of its last checkpoint: skipped, ${eval_s} s left"
		fi
	fi
	if report "$run" && ((code == 0 || code == 130)); then
		record PASS ppo_pong "$((SECONDS - start)) s with its evaluation"
	else
		tail -n 20 "$OUT/ppo_pong.log"
		record FAIL ppo_pong "exit $code; see $OUT/ppo_pong.log"
	fi
fi

echo
echo "== gpu_check: $SECONDS s in all (budget ${BUDGET_S} s); runs and logs in $OUT"
printf '  %s\n' "${RESULTS[@]}"
exit "$FAILED"
