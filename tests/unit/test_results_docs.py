"""The docs state what the results records say: every preset and guide study has a record, each record agrees
with itself, and every measured block of README.md, docs/guide.md and conf/experiment/*.yaml is what the
records write (`python scripts/reproduce.py --docs`). No training: this runs in a second."""

import json
import shutil

import pytest

from pglab.results import docs, record
from pglab.results.reproduce import GUIDE_BASE, RESULTS_DIR, STUDIES, names
from tests.conftest import CONF, ROOT

PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", names())
def test_every_preset_and_study_has_a_record_that_agrees_with_itself(name):
    result = record.load(RESULTS_DIR / f"{name}.json")
    assert result["preset"] == name
    if name in PRESETS:
        assert result["overrides"][0] == f"experiment={name}"
    else:
        assert result["overrides"] == [*GUIDE_BASE, *STUDIES[name]]
    assert result["seeds"], "at least one seed"
    assert {"commit", "versions", "machine", "date", "threshold", "score", "command"} <= set(result)
    for seed, entry in result["seeds"].items():
        curve = entry["eval"]
        assert [len(point) for point in curve] == [3] * len(curve) and curve, seed
        assert [point[0] for point in curve] == sorted(point[0] for point in curve), "in env-step order"
        assert (entry["first_at"], entry["stable_from"]) == record.crossings(
            curve, result["threshold"], result["score"]
        )
        step, mean, std = curve[-1]
        assert entry["final"] == {
            "env_steps": step,
            "mean": mean,
            "std": std,
            "score": record.score_of(mean, std, result["score"]),
        }
        assert entry["env_steps"] == step, "the final evaluation is at the end of training"
        # wall_s is rounded to 0.01 s and sps to 0.1 step/s, sps computed before the rounding
        # (a wall time off by up to 0.005 s moves steps / wall by sps * 0.005 / wall, and sps's rounding adds 0.05)
        assert entry["sps"] == pytest.approx(
            entry["env_steps"] / entry["wall_s"], abs=0.051 + entry["sps"] * 0.0051 / entry["wall_s"]
        )


def test_the_docs_are_what_the_records_write():
    stale = docs.stale_files()
    assert not stale, f"rewrite with python scripts/reproduce.py --docs: {[str(p) for p in stale]}"


def test_every_preset_has_its_measured_comment_and_a_readme_row():
    assert set(docs.CARTPOLE_PRESETS) | set(docs.OTHER_PRESETS) | set(docs.TORCH_PRESETS) == set(PRESETS)
    readme = (ROOT / "README.md").read_text()
    for block in ("presets-cartpole", "presets-other", "ppo-cartpole-seeds"):
        assert f"<!-- results: {block} -->" in readme
    for preset in PRESETS:
        text = (CONF / "experiment" / f"{preset}.yaml").read_text()
        assert f"# results: preset-{preset}\n# MEASURED (docs/results/{preset}.json" in text
        assert "MEASURED" not in text.split("# results:")[0], (
            "no hand-written MEASURED line outside the block"
        )
    guide = (ROOT / "docs" / "guide.md").read_text()
    for question in docs.GUIDE:
        assert f"<!-- results: {question} -->" in guide
    assert {name for studies in docs.GUIDE.values() for _, name in studies} == set(STUDIES)


def test_a_changed_record_makes_its_docs_stale(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, results)
    path = results / "ppo_acrobot.json"
    result = json.loads(path.read_text())
    result["seeds"]["0"]["final"]["mean"] += 1.0
    path.write_text(json.dumps(result))
    stale = docs.stale_files(results)
    assert ROOT / "README.md" in stale and CONF / "experiment" / "ppo_acrobot.yaml" in stale
    assert ROOT / "docs" / "guide.md" not in stale


def test_an_unknown_block_name_is_refused():
    with pytest.raises(KeyError, match="unknown results block 'presets-typo'"):
        docs.rewrite("<!-- results: presets-typo -->\n<!-- /results -->\n", docs.MARKDOWN, {})
