"""Saving and loading artifacts: round trips, damaged directories, and no TensorFlow at load time."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender.ml import ArtifactError, load_scorer, read_manifest, save_artifact

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved_neumf(trained_neumf, tmp_path_factory):
    directory = tmp_path_factory.mktemp("neumf")
    save_artifact(trained_neumf, directory, metrics={"ndcg@10": np.float64(0.25)}, extra={"job": 7})
    return directory


def test_manifest_contents(saved_neumf, trained_neumf):
    manifest = read_manifest(saved_neumf)
    assert manifest["recipe"] == "neumf" and manifest["task"] == "recommendation"
    assert manifest["params"]["mlp_layers"] == [32, 16, 8]
    assert manifest["metrics"] == {"ndcg@10": 0.25} and manifest["extra"] == {"job": 7}
    assert manifest["data_snapshot"] == trained_neumf.snapshot
    assert manifest["id_mappings"] == {"n_users": 60, "n_items": trained_neumf.scorer.n_items}
    assert {"numpy", "pandas", "tensorflow", "keras"} <= set(manifest["library_versions"])
    assert all(manifest["library_versions"].values())
    assert {"scorer.npz", "scorer.json", "model.keras"} <= set(manifest["files"])
    assert (saved_neumf / "model.keras").is_file()


@pytest.mark.parametrize("fixture", ["trained_neumf", "trained_two_tower", "trained_ease", "trained_popularity"])
def test_recommendation_round_trip(request, fixture, tmp_path):
    trained = request.getfixturevalue(fixture)
    save_artifact(trained, tmp_path)
    loaded = load_scorer(tmp_path)
    assert loaded.recipe == trained.recipe.name and loaded.task == "recommendation"
    assert list(loaded.item_ids) == list(trained.scorer.item_ids)
    assert loaded.recommend("u3", k=5) == trained.scorer.recommend("u3", k=5)
    assert loaded.nbytes == trained.scorer.nbytes


def test_predictor_round_trip(trained_classifier, tmp_path):
    save_artifact(trained_classifier, tmp_path)
    loaded = load_scorer(tmp_path)
    rows = [{"tenure_months": 3, "plan": "basic", "monthly_spend": 20.0, "region": None}]
    assert loaded.predict(rows) == trained_classifier.scorer.predict(rows)
    assert read_manifest(tmp_path)["id_mappings"] == {}


def test_corrupt_manifest(trained_ease, tmp_path):
    save_artifact(trained_ease, tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json is not valid JSON"):
        load_scorer(tmp_path)


def test_missing_npz(trained_ease, tmp_path):
    save_artifact(trained_ease, tmp_path)
    (tmp_path / "scorer.npz").unlink()
    with pytest.raises(ArtifactError, match="scorer.npz is missing"):
        load_scorer(tmp_path)


def test_wrong_format_version(trained_ease, tmp_path):
    save_artifact(trained_ease, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="format version 99"):
        load_scorer(tmp_path)


def test_changed_npz_fails_checksum(trained_ease, tmp_path):
    save_artifact(trained_ease, tmp_path)
    np.savez(tmp_path / "scorer.npz", weights=np.zeros(3))
    with pytest.raises(ArtifactError, match="scorer.npz does not match its checksum"):
        load_scorer(tmp_path)


def test_missing_directory(tmp_path):
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        load_scorer(tmp_path / "nowhere")


def test_loading_and_serving_never_imports_tensorflow(saved_neumf):
    script = (
        "import sys\n"
        "import recommender.ml, recommender.ml.scorers, recommender.ml.artifacts\n"
        "from recommender.ml.artifacts import load_scorer\n"
        f"scorer = load_scorer({str(saved_neumf)!r})\n"
        "assert scorer.recommend('u1', k=3)\n"
        "heavy = sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
