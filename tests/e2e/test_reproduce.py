"""`scripts/reproduce.py`: writes a record from real `train.py` runs (seeds in parallel), and `--check` reruns
them, names the first evaluation that differs and exits 1, leaving the record as it was."""

from pglab.results import record
from tests.cli import run_script

SMOKE = [
    "--set",
    "debug=smoke",
    "--set",
    "total_env_steps=3072",
    "--set",
    "callbacks.evaluation.every_env_steps=1024",
]


def test_reproduce_writes_a_record_and_check_names_the_first_difference(tmp_path):
    results, runs = tmp_path / "results", tmp_path / "runs"
    dirs = ["--results", str(results), "--runs", str(runs)]
    written = run_script("scripts/reproduce.py", "ppo_cartpole", "--seeds", "0,1", *SMOKE, *dirs, timeout=300)
    assert written.returncode == 0, written.stdout + written.stderr
    path = results / "ppo_cartpole.json"
    result = record.load(path)
    assert result["preset"] == "ppo_cartpole" and sorted(result["seeds"]) == ["0", "1"]
    assert result["overrides"] == [
        "experiment=ppo_cartpole",
        "debug=smoke",
        "total_env_steps=3072",
        "callbacks.evaluation.every_env_steps=1024",
    ]
    assert result["jobs"] == 2 and result["threshold"] == 475.0
    assert result["command"] == (
        "python scripts/reproduce.py ppo_cartpole --seeds 0,1 --set debug=smoke --set total_env_steps=3072 "
        "--set callbacks.evaluation.every_env_steps=1024"
    )
    for seed in ("0", "1"):
        assert [point[0] for point in result["seeds"][seed]["eval"]] == [1024, 2048, 3072]
        assert len(list((runs / "ppo_cartpole").glob(f"*/seed_{seed}/summary.json"))) == 1

    result["seeds"]["1"]["eval"][1][1] += 0.5  # as if the code had changed what seed 1 reaches at 2,048 steps
    path.write_text(record.dumps(result))
    tampered = path.read_bytes()
    checked = run_script("scripts/reproduce.py", "ppo_cartpole", "--check", *dirs, timeout=300)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "seed 0: identical" in checked.stdout
    assert "seed 1: DIFFERS: evaluation 2 at 2,048 env steps: recorded" in checked.stdout
    assert path.read_bytes() == tampered, "--check leaves the record as it was"


def test_an_unknown_name_is_refused_naming_the_choices(tmp_path):
    refused = run_script("scripts/reproduce.py", "ppo_cartpol", "--results", str(tmp_path), timeout=120)
    assert refused.returncode == 1
    assert "unknown record name 'ppo_cartpol'; choose a preset or a study: a2c_cartpole," in refused.stderr
    assert not any(tmp_path.iterdir()), "nothing written"
