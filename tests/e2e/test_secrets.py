"""Secrets in the environment (the W&B API key, any token) never reach the run dir: configs, logs, W&B's
offline files, checkpoints."""

from tests.cli import train

API_KEY = "0123456789abcdef0123456789abcdef01234567"  # the shape of a W&B key (40 hex characters)
TOKEN = "pglab-test-token-5f2b9c"


def test_secrets_from_the_environment_never_land_in_the_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "debug=smoke",
        "logger=[csv,wandb]",
        "logger.wandb.mode=offline",
        "logger.wandb.log_model=true",
        f"hydra.run.dir={run_dir}",
        env={"WANDB_API_KEY": API_KEY, "SOME_SERVICE_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files) and any(p.suffix == ".ckpt" for p in files)
    for path in files:
        data = path.read_bytes()
        assert API_KEY.encode() not in data and TOKEN.encode() not in data, path
    assert API_KEY not in result.stdout + result.stderr
