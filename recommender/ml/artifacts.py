"""Save trained models to a directory and load their numpy scorers back.

Layout of an artifact directory::

    manifest.json   format version, recipe, params, metrics, id summary, data
                    snapshot, library versions, checksums of the files below
    scorer.npz      every array the numpy scorer needs (no pickles)
    scorer.json     the scorer's kind and JSON metadata (e.g. feature encoding)
    model.keras     the Keras model, for neural recipes (not needed to serve)

Loading needs numpy and the standard library only; TensorFlow is never
imported here (library versions are read from package metadata).
"""

from __future__ import annotations

import datetime as _datetime
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from . import sequence  # noqa: F401 - registers the sequence scorers' kinds
from .errors import ArtifactError
from .scorers import SCORER_CLASSES, RecommendationScorer, Scorer

if TYPE_CHECKING:
    from .training import TrainedModel

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCORER_ARRAYS = "scorer.npz"
SCORER_META = "scorer.json"
KERAS_MODEL = "model.keras"
_VERSIONED_PACKAGES = ("numpy", "pandas", "tensorflow", "keras")
_HASH_CHUNK = 1 << 20


def save_artifact(
    trained: TrainedModel, directory: str | os.PathLike[str], *, metrics: dict | None = None, extra: dict | None = None
) -> Path:
    """Write ``trained`` (a TrainedModel) into ``directory``, creating it; returns the directory path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scorer: Scorer = trained.scorer
    arrays, meta = scorer.to_state()
    _write_atomically(directory / SCORER_ARRAYS, lambda handle: np.savez(handle, **arrays))
    _write_atomically(
        directory / SCORER_META, lambda handle: handle.write(json.dumps({"kind": scorer.kind, "meta": meta}).encode())
    )
    files = [SCORER_ARRAYS, SCORER_META]
    if trained.keras_model is not None:
        with warnings.catch_warnings():
            # Keras's saver reads each TensorFlow variable with ``np.array``; TensorFlow's
            # ``__array__`` lacks numpy 2's ``copy`` keyword, so numpy warns once per weight.
            # The weights are written correctly; the cause is upstream (TensorFlow 2.20).
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword")
            trained.keras_model.save(directory / KERAS_MODEL)
        files.append(KERAS_MODEL)
    manifest = {
        "format_version": FORMAT_VERSION,
        "recipe": trained.recipe.name,
        "task": trained.recipe.task,
        "params": _jsonable(trained.params),
        "seed": trained.seed,
        "metrics": _jsonable(metrics or {}),
        "extra": _jsonable(extra or {}),
        "created_at": _datetime.datetime.now(_datetime.UTC).isoformat(timespec="seconds"),
        "id_mappings": _id_summary(scorer),
        "data_snapshot": _jsonable(trained.snapshot),
        "library_versions": _library_versions(),
        "files": {
            name: {"sha256": _sha256(directory / name), "bytes": (directory / name).stat().st_size} for name in files
        },
    }
    _write_atomically(
        directory / MANIFEST, lambda handle: handle.write(json.dumps(manifest, indent=2, sort_keys=True).encode())
    )
    return directory


def read_manifest(directory: str | os.PathLike[str]) -> dict:
    """The parsed and version-checked manifest of an artifact directory."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: not a saved model directory")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} must hold a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {version!r}; this library reads version {FORMAT_VERSION}. "
            "Retrain the model or load it with a matching library version."
        )
    missing = [key for key in ("recipe", "task", "files", "id_mappings") if key not in manifest]
    if missing:
        raise ArtifactError(f"{path} lacks required field(s): {', '.join(missing)}")
    return manifest


def load_scorer(directory: str | os.PathLike[str]) -> Scorer:
    """Rebuild the numpy scorer saved in ``directory``; raises ArtifactError naming the bad file."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for name in (SCORER_ARRAYS, SCORER_META):
        _verify_file(directory, name, manifest)
    try:
        description = json.loads((directory / SCORER_META).read_text())
        kind, meta = description["kind"], description["meta"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{directory / SCORER_META} is malformed ({exc})") from exc
    if kind not in SCORER_CLASSES:
        raise ArtifactError(f"{directory / SCORER_META} names unknown scorer kind {kind!r}")
    try:
        with np.load(directory / SCORER_ARRAYS, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} cannot be read as a numpy archive ({exc})") from exc
    try:
        scorer = SCORER_CLASSES[kind].from_state(manifest["recipe"], arrays, meta)
    except KeyError as exc:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} lacks array or field {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} does not fit scorer kind {kind!r} ({exc})") from exc
    if _id_summary(scorer) != manifest["id_mappings"]:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} does not match the id counts in {MANIFEST}")
    return scorer


def _verify_file(directory: Path, name: str, manifest: dict) -> None:
    path = directory / name
    expected = manifest["files"].get(name)
    if expected is None:
        raise ArtifactError(f"{directory / MANIFEST} does not list {name}")
    if not path.is_file():
        raise ArtifactError(f"{path} is missing")
    if _sha256(path) != expected.get("sha256"):
        raise ArtifactError(f"{path} does not match its checksum in {MANIFEST} (changed or truncated)")


def _id_summary(scorer: Scorer) -> dict:
    if isinstance(scorer, RecommendationScorer):
        return {"n_users": len(scorer.user_ids), "n_items": scorer.n_items}
    return {}


def _library_versions() -> dict:
    versions: dict[str, str | None] = {}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            # tensorflow-cpu and similar builds register under another distribution name.
            versions[package] = _first_installed(f"{package}-cpu")
    return versions


def _first_installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, write: Callable[[IO[Any]], object]) -> None:
    """Write via a temporary file and rename, so readers never see a half-written file."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            write(handle)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
