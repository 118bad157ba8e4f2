"""Sweep summaries from job dirs: per-job rows, per-configuration statistics across seeds, crashed jobs."""

import json
import math
import os

import yaml

from pglab.sweep_summary import (
    RESUMED_RUN,
    JobResult,
    best_line,
    by_config,
    point_to_resumed_run,
    read_sweep,
    seed_value,
    write_sweep_summary,
)


def make_job(sweep_dir, num, overrides, summary):
    job_dir = sweep_dir / str(num)
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if summary is not None:
        (job_dir / "summary.json").write_text(json.dumps(summary))


def completed(mean):
    return {
        "status": "completed",
        "eval/episode_return_mean": mean,
        "eval/episode_return_std": 1.0,
        "progress/env_steps": 1000,
        "time/wall_s": 2.5,
    }


def test_configurations_across_seeds_best_first_and_crashed_jobs_failed(tmp_path):
    for num, (lr, seed, summary) in enumerate(
        [
            ("1e-3", 0, completed(100.0)),
            ("1e-3", 1, completed(200.0)),
            ("1e-3", 2, completed(300.0)),
            ("3e-4", 0, completed(400.0)),
            ("3e-4", 1, None),
            ("3e-4", 2, completed(500.0)),
        ]
    ):
        make_job(tmp_path, num, [f"algo.lr={lr}", f"seed={seed}"], summary)
    make_job(tmp_path, 10, ["algo.lr=1", "seed=0"], {"status": "failed", "error": "ValueError: boom"})

    jobs = read_sweep(tmp_path)
    assert [j.job for j in jobs] == ["0", "1", "2", "3", "4", "5", "10"]  # numeric order, not "10" < "2"
    assert [j.seed for j in jobs] == [0, 1, 2, 0, 1, 2, 0]
    assert jobs[4].status == "failed" and "crashed or was killed" in jobs[4].error
    assert jobs[6].error == "ValueError: boom"

    configs = by_config(jobs)
    assert [c.overrides for c in configs] == ["algo.lr=3e-4", "algo.lr=1e-3", "algo.lr=1"]
    assert configs[0].seeds == [0, 2] and configs[0].failed == 1
    assert configs[0].mean == 450.0 and math.isclose(configs[0].std, math.sqrt(5000))  # sample std, n - 1 = 1
    assert configs[1].mean == 200.0 and configs[1].std == 100.0
    assert math.isnan(configs[2].mean) and configs[2].failed == 1

    write_sweep_summary(tmp_path)
    markdown = (tmp_path / "sweep_summary.md").read_text()
    assert "7 jobs, 5 completed, 2 failed" in markdown
    assert "| 1 | algo.lr=3e-4 | 0,2 | 450.0 ± 70.7 | 1 |" in markdown


def test_one_seed_reports_no_spread():
    (config,) = by_config(
        [JobResult("0", "algo.lr=1e-3", 0, "completed", eval_return_mean=500.0, eval_return_std=0.0)]
    )
    assert config.mean == 500.0 and math.isnan(config.std)
    assert best_line(config) == "algo.lr=1e-3: eval return 500.0 (seed 0; one seed, no spread)"
    two = by_config(
        [JobResult(str(s), "", s, "completed", eval_return_mean=m) for s, m in ((0, 400.0), (1, 500.0))]
    )[0]
    assert best_line(two) == f"(defaults): eval return 450.0 ± {math.sqrt(5000):.1f} over seeds 0,1"


def test_seeds_given_as_floats_are_whole_numbers_or_none():
    assert [seed_value(text) for text in ("3", "1e3", "2.0", "1.5", "abc", None)] == [
        3,
        1000,
        2,
        None,
        None,
        None,
    ]


def test_a_job_that_resumed_a_run_elsewhere_is_read_from_that_run(tmp_path):
    runs, sweep = tmp_path / "runs", tmp_path / "sweep"
    for k in range(3):
        make_job(runs, k, ["algo.lr=1e-3", f"seed={k}"], completed(100.0 * (k + 1)))
        point_to_resumed_run(sweep / str(k), runs / str(k))
        # the resumed run wrote its summary after the job pointed to it, except run 2 (killed after its resume)
        later = 2_000_000_000 if k < 2 else 1_000_000_000
        os.utime(runs / str(k) / "summary.json", (later, later))
        os.utime(sweep / str(k) / RESUMED_RUN, (1_500_000_000, 1_500_000_000))
    point_to_resumed_run(sweep / "3", tmp_path / "gone")
    point_to_resumed_run(sweep / "4", runs / "0")  # refused (its run is locked, say): the job's own record
    (sweep / "4" / "summary.json").write_text(
        json.dumps({"status": "failed", "error": "ConfigError: locked"})
    )

    jobs = read_sweep(sweep)
    assert [(j.job, j.overrides, j.seed, j.status, j.eval_return_mean) for j in jobs[:2]] == [
        ("0", "algo.lr=1e-3", 0, "completed", 100.0),
        ("1", "algo.lr=1e-3", 1, "completed", 200.0),
    ]
    assert jobs[2].status == "failed" and "crashed or was killed" in jobs[2].error
    assert (jobs[3].overrides, jobs[3].status) == (f"resume={tmp_path / 'gone'}", "failed")
    assert "no summary.json" in jobs[3].error
    assert (jobs[4].status, jobs[4].error) == ("failed", "ConfigError: locked")
    (config,) = [c for c in by_config(jobs) if c.overrides == "algo.lr=1e-3"]
    assert config.seeds == [0, 1] and config.mean == 150.0
