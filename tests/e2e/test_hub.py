"""`evaluate.py push_to_hub=ORG/NAME` and `from_hub=ORG/NAME|DIR`, offline: the Hub folder is complete and its card
reads back with huggingface_hub, `from_hub=<folder>` reproduces its results exactly, the token is written nowhere,
and every bad input fails in one line within 30 s. Nothing reaches huggingface.co: every run gets `HF_ENDPOINT` at
a closed local port (or a stub Hub in this process), an empty `HF_HOME` and no stored token."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import imageio.v2 as imageio
import pytest
import torch
from huggingface_hub import ModelCard
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from safetensors.torch import load_file

from pglab import hub
from tests.cli import run_script
from tests.conftest import CONF
from tests.e2e.test_evaluate import trained_run  # noqa: F401  (the module's tiny PPO CartPole run)

TOKEN = "hf_pglabTestToken5f2b9cDoNotWrite"  # the shape of a Hugging Face token
REPO = "pglab-test/ppo-CartPole-v1"
#: a failed command must end within this many seconds (most of it is the interpreter's imports)
FAIL_WITHIN_S = 30


def closed_port_url() -> str:
    """An http URL on a local port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def hub_env(home: Path, **variables: str) -> dict[str, str]:
    """An environment in which huggingface_hub finds no token (unless `HF_TOKEN` is given), an empty cache, and
    a Hub at a closed port (unless `HF_ENDPOINT` is given)."""
    return {
        "HF_HOME": str(home),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_TOKEN": "",
        "HUGGING_FACE_HUB_TOKEN": "",
        "HF_OIDC_RESOURCE": "",
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_ENDPOINT": closed_port_url(),
        **variables,
    }


def evaluate(*args: str, env: dict[str, str]):
    """`python evaluate.py args...` and its wall time in seconds."""
    start = time.monotonic()
    result = run_script("evaluate.py", *args, env=env, timeout=120)
    return result, time.monotonic() - start


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_fails_in_one_line(result, elapsed: float, code: int, cause: str) -> str:
    """Exit code `code`, within FAIL_WITHIN_S, one `[ERROR]` line on stderr naming `cause`, and nothing else there
    (no traceback); returns that line."""
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert elapsed < FAIL_WITHIN_S, elapsed
    (line,) = lines(result.stderr)
    assert line.startswith("[ERROR] ") and cause in line, line
    assert "ERROR" not in result.stdout
    return line


def assert_complete_folder(folder: Path) -> None:
    """Every file of a Hub folder, each readable, and no staging dir left beside it."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(hub.FOLDER_FILES)
    assert json.loads((folder / hub.RESULTS_FILE).read_text())["episodes"] == 10
    assert any(name.startswith("policy.") for name in load_file(folder / hub.WEIGHTS_FILE))
    assert ModelCard.load(folder / hub.CARD_FILE).data.library_name == "pglab"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]


@pytest.fixture(scope="module")
def pushed(trained_run, tmp_path_factory):  # noqa: F811  (the imported fixture)
    """`push_to_hub=REPO hub.upload=false` of the run's last.ckpt, with TOKEN in the environment."""
    run_dir, _ = trained_run
    work = tmp_path_factory.mktemp("pushed")
    folder = work / "hub-folder"
    result, _ = evaluate(
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        f"push_to_hub={REPO}",
        "hub.upload=false",
        f"hub.local_dir={folder}",
        env=hub_env(work / "hf", HF_TOKEN=TOKEN),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, folder, result


def test_push_writes_a_complete_folder_whose_card_the_hub_reads(pushed):
    run_dir, folder, result = pushed
    assert_complete_folder(folder)
    results = json.loads((folder / "results.json").read_text())
    assert results["env_id"] == results["leaderboard_env"] == "CartPole-v1" and results["algo"] == "PPO"
    assert results["episodes"] == 10 and results["deterministic"] is True and results["seed"] == 1_000_000
    assert results["env_steps"] == 4032 and results["pglab_version"] == "0.1.0" and results["repo_id"] == REPO
    assert results["score_mean_minus_std"] == results["episode_return_mean"] - results["episode_return_std"]
    assert (
        f"return {results['episode_return_mean']:.2f} ± {results['episode_return_std']:.2f}" in result.stdout
    )

    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "pglab"
    assert card.data.tags == ["CartPole-v1", "ppo", "reinforcement-learning", "pglab"]  # not a course preset
    (evaluation,) = card.data.eval_results
    assert evaluation.dataset_name == evaluation.dataset_type == "CartPole-v1"
    assert (evaluation.task_type, evaluation.metric_type) == ("reinforcement-learning", "mean_reward")
    assert evaluation.metric_value == (
        f"{results['episode_return_mean']:.2f} +/- {results['episode_return_std']:.2f}"
    )
    assert card.data.model_name == "ppo-CartPole-v1"
    assert f"python evaluate.py from_hub={REPO}" in card.text and f'load_policy("{REPO}")' in card.text
    assert "greedy actions" in card.text and "hidden_sizes:\n  - 16" in card.text
    assert "launch command was not recorded" in card.text  # the fixture's run was composed in-process

    # The weights are the checkpoint's, bit for bit; the config is the run's; the curve is the run's.
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    tensors = load_file(folder / "model.safetensors")
    policy = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("policy.")}
    assert sorted(tensors) == sorted(policy) and any(
        ".value_head." in k or "value_head" in k for k in tensors
    )
    assert all(torch.equal(tensors[k], policy[k]) for k in policy)
    assert OmegaConf.load(folder / "config.yaml") == OmegaConf.load(run_dir / "config.yaml")
    assert (folder / "learning_curve.png").read_bytes() == (run_dir / "learning_curve.png").read_bytes()
    reader = imageio.get_reader(folder / "replay.mp4")
    assert results["lengths"][0] + 1 <= reader.count_frames() <= results["lengths"][0] + 2
    # The replay was recorded for the folder only (video=false): no video is left beside the checkpoint.
    assert not list((run_dir / "checkpoints").glob("*.mp4"))


def test_from_hub_folder_reproduces_its_results_exactly_and_loads_in_python(pushed, tmp_path):
    run_dir, folder, _ = pushed
    results = json.loads((folder / "results.json").read_text())
    result, _ = evaluate(
        f"from_hub={folder}", "video=true", f"hub.eval_dir={tmp_path}", env=hub_env(tmp_path / "hf")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (json_path,) = tmp_path.glob("hub-folder-eval-*.json")
    out = json.loads(json_path.read_text())
    assert out["episode_return_mean"] == results["episode_return_mean"]
    assert out["episode_return_std"] == results["episode_return_std"]
    assert out["returns"] == results["returns"] and out["env_steps"] == results["env_steps"]
    assert out["from_hub"] == str(folder) and len(out["videos"]) == 1 and Path(out["videos"][0]).is_file()

    policy = hub.load_policy(str(folder))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert policy.state_dict().keys() == {k.removeprefix("policy.") for k in checkpoint["state_dict"]}
    assert all(
        torch.equal(v, checkpoint["state_dict"][f"policy.{k}"]) for k, v in policy.state_dict().items()
    )
    assert not policy.training


def test_the_token_is_written_nowhere(pushed, tmp_path):
    run_dir, folder, result = pushed
    # An upload that fails (nothing listens) after the folder is written: the token was read and sent.
    failed, _ = evaluate(
        f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
        f"push_to_hub={REPO}",
        f"hub.local_dir={tmp_path / 'folder'}",
        env=hub_env(tmp_path / "hf", HF_TOKEN=TOKEN),
    )
    assert failed.returncode == 1
    files = [p for d in (folder, run_dir, tmp_path) for p in d.rglob("*") if p.is_file()]
    assert {folder / name for name in hub.FOLDER_FILES} <= set(files)
    assert {tmp_path / "folder" / name for name in hub.FOLDER_FILES} <= set(files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    for output in (result.stdout, result.stderr, failed.stdout, failed.stderr):
        assert TOKEN not in output


class StubHub(BaseHTTPRequestHandler):
    """A Hub that knows no repo (404 RepoNotFound) and refuses every token (401 on POST)."""

    def reply(self) -> None:
        code = 401 if self.command == "POST" else 404
        body = json.dumps(
            {"error": "Invalid credentials" if code == 401 else "Repository not found"}
        ).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if code == 404:
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = reply

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def stub_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


#: bad input -> (exit code, what its one line says, whether the Hub folder is written complete first)
BAD_INPUTS = {
    "push without a token": (2, "needs a Hugging Face token with write access: set HF_TOKEN", False),
    "push to an unreachable Hub": (1, "cannot be reached (ConnectError", True),
    "push with a token the Hub refuses": (1, "the Hub refused the token (401 Unauthorized)", True),
    "push to a repo id of the wrong form": (2, "push_to_hub='ppo-CartPole-v1' is not a Hub repo id", False),
    "push to a repo id with two slashes": (2, "push_to_hub='org/name/more' is not a Hub repo id", False),
    "push into a dir with other files": (2, "holds other files than a pglab Hub folder (notes.txt)", False),
    "from_hub of a missing folder": (2, "no such folder", False),
    "from_hub of a missing repo": (2, "has no model repo pglab-test/missing", False),
    "from_hub from an unreachable Hub": (1, "cannot be reached (ConnectError", False),
    "from_hub of a file": (2, "is a file; give a Hub folder", False),
    "from_hub and ckpt_path": (2, "both name an agent to evaluate; give one", False),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_hub_inputs_fail_in_one_line_within_30_s(case, trained_run, stub_hub, tmp_path):  # noqa: F811
    code, cause, folder_written = BAD_INPUTS[case]
    run_dir, _ = trained_run
    ckpt = f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}"
    folder = tmp_path / "folder"
    push = [ckpt, f"hub.local_dir={folder}"]
    env = hub_env(tmp_path / "hf", HF_TOKEN=TOKEN)
    args = {
        "push without a token": [*push, f"push_to_hub={REPO}"],
        "push to an unreachable Hub": [*push, f"push_to_hub={REPO}"],
        "push with a token the Hub refuses": [*push, f"push_to_hub={REPO}"],
        "push to a repo id of the wrong form": [*push, "push_to_hub=ppo-CartPole-v1"],
        "push to a repo id with two slashes": [*push, "push_to_hub=org/name/more", "hub.upload=false"],
        "push into a dir with other files": [*push, f"push_to_hub={REPO}"],
        "from_hub of a missing folder": [f"from_hub={tmp_path / 'missing'}"],
        "from_hub of a missing repo": ["from_hub=pglab-test/missing"],
        "from_hub from an unreachable Hub": ["from_hub=pglab-test/ppo-CartPole-v1"],
        "from_hub of a file": [f"from_hub={run_dir / 'config.yaml'}"],
        "from_hub and ckpt_path": [ckpt, f"from_hub={tmp_path}"],
    }[case]
    if case == "push without a token":
        env["HF_TOKEN"] = ""
    if case in ("push with a token the Hub refuses", "from_hub of a missing repo"):
        env["HF_ENDPOINT"] = stub_hub
    if case == "push into a dir with other files":
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    result, elapsed = evaluate(*args, env=env)
    line = assert_fails_in_one_line(result, elapsed, code, cause)
    if folder_written:
        assert_complete_folder(folder)
        assert f"the folder {folder} is complete: upload it later with `hf upload {REPO} {folder}`" in line
    elif case == "push into a dir with other files":
        assert [p.name for p in folder.iterdir()] == ["notes.txt"]  # nothing of it removed
    else:
        assert not folder.exists()
    assert "Traceback" not in result.stdout + result.stderr


def test_a_folder_whose_weights_do_not_fit_its_config_gets_the_one_line_error_of_ckpt_path(pushed, tmp_path):
    _, folder, _ = pushed
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in folder.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    config = OmegaConf.load(changed / "config.yaml")
    config.network.hidden_sizes = [32]
    OmegaConf.save(config, changed / "config.yaml")
    result, elapsed = evaluate(f"from_hub={changed}", env=hub_env(tmp_path / "hf"))
    line = assert_fails_in_one_line(result, elapsed, 2, "its weights do not fit the network of")
    assert line.startswith(
        f"[ERROR] from_hub={changed}: its weights do not fit the network of {changed / 'config.yaml'}: "
        "actor_trunk.0.weight: checkpoint 16x4, network 32x4; actor_trunk.0.bias: checkpoint 16, network 32;"
    )
    assert line.endswith("more") and len(line) < 500


def evaluate_config(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def test_push_uploads_the_complete_folder_with_create_repo_and_upload_folder(
    trained_run,  # noqa: F811
    tmp_path,
    monkeypatch,
    caplog,
):
    from pglab.evaluate import run

    run_dir, _ = trained_run
    calls = []

    class RecordingApi:  # HfApi, minus the network
        def __init__(self, endpoint, token):
            calls.append(("init", token))

        def create_repo(self, repo_id, **options):
            calls.append(("create_repo", repo_id, options))

        def upload_folder(self, repo_id, folder_path, **options):
            calls.append(
                ("upload_folder", repo_id, Path(folder_path), sorted(p.name for p in folder_path.iterdir()))
            )

    monkeypatch.setattr(hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    cfg = evaluate_config(
        f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
        f"push_to_hub={REPO}",
        f"hub.local_dir={tmp_path / 'f'}",
    )
    with caplog.at_level("INFO"):
        run(cfg)
    assert calls == [
        ("init", TOKEN),
        ("create_repo", REPO, {"repo_type": "model", "exist_ok": True, "private": None}),
        ("upload_folder", REPO, tmp_path / "f", sorted(hub.FOLDER_FILES)),
    ]
    assert f"Uploaded to {hub.constants.ENDPOINT}/{REPO}" in caplog.text and TOKEN not in caplog.text
