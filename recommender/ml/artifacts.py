"""Save trained models to a directory and load their numpy scorers back.

Layout of an artifact directory::

    manifest.json   format version, recipe, params, metrics, id summary, data
                    snapshot, library versions, checksums of the files below
    scorer.npz      every array the numpy scorer needs (no pickles)
    scorer.json     the scorer's kind and JSON metadata (e.g. feature encoding)
    scorer.NAME.npy each array of at least MAP_MIN_BYTES, on its own
    items.faiss     an approximate nearest-neighbour index over the item
                    vectors, for embedding models of at least ``ann_min_items``
                    items (recommender/ml/ann.py)
    model.keras     the Keras model, for neural recipes (not needed to serve)

Loading needs numpy and the standard library only (and faiss for an artifact
with an index); TensorFlow is never imported here (library versions are read
from package metadata). Large arrays and the index are memory-mapped read-only,
so the web processes of a machine share one copy of a large model.
"""

from __future__ import annotations

import datetime as _datetime
import functools
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

from . import (
    ann,
    sequence,  # noqa: F401 - registers the sequence scorers' kinds
)
from .errors import ArtifactError
from .scorers import SCORER_CLASSES, RecommendationScorer, Scorer

if TYPE_CHECKING:
    from .training import TrainedModel

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCORER_ARRAYS = "scorer.npz"
SCORER_META = "scorer.json"
KERAS_MODEL = "model.keras"
# Arrays this large are saved as their own .npy and memory-mapped when loaded:
# processes then share their pages instead of each holding a copy.
MAP_MIN_BYTES = 8 * 2**20
_VERSIONED_PACKAGES = ("numpy", "pandas", "tensorflow", "keras")
_HASH_CHUNK = 1 << 20


def save_artifact(
    trained: TrainedModel,
    directory: str | os.PathLike[str],
    *,
    metrics: dict | None = None,
    extra: dict | None = None,
    ann_min_items: int | None = None,
) -> Path:
    """Write ``trained`` (a TrainedModel) into ``directory``, creating it; returns the directory path.

    An embedding model with at least ``ann_min_items`` items (None: never) gets
    an approximate nearest-neighbour index, built here.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scorer: Scorer = trained.scorer
    arrays, meta = scorer.to_state()
    mapped = {name: array for name, array in arrays.items() if array.nbytes >= MAP_MIN_BYTES}
    packed = {name: array for name, array in arrays.items() if name not in mapped}
    _write_atomically(directory / SCORER_ARRAYS, lambda handle: np.savez(handle, **packed))
    files = [SCORER_ARRAYS, SCORER_META]
    for name, array in mapped.items():
        _write_atomically(directory / _mapped_name(name), functools.partial(_save_array, array=array))
        files.append(_mapped_name(name))
    description = {"kind": scorer.kind, "meta": meta, "mapped": sorted(mapped)}
    _write_atomically(directory / SCORER_META, lambda handle: handle.write(json.dumps(description).encode()))
    index = _build_index(scorer, ann_min_items, trained.seed)
    if index is not None:
        _write_atomically(directory / ann.INDEX_FILE, lambda handle: handle.write(_index_bytes(index)))
        files.append(ann.INDEX_FILE)
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
        "ann_index": index.describe() if index is not None else None,
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
    for name in description.get("mapped", []):
        path = directory / _mapped_name(name)
        _verify_file(directory, path.name, manifest)
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{path} cannot be read as a numpy array ({exc})") from exc
    try:
        scorer = SCORER_CLASSES[kind].from_state(manifest["recipe"], arrays, meta)
    except KeyError as exc:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} lacks array or field {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} does not fit scorer kind {kind!r} ({exc})") from exc
    if _id_summary(scorer) != manifest["id_mappings"]:
        raise ArtifactError(f"{directory / SCORER_ARRAYS} does not match the id counts in {MANIFEST}")
    if manifest.get("ann_index") and isinstance(scorer, RecommendationScorer):
        scorer.item_index = _load_index(directory, manifest, scorer)
    return scorer


def _save_array(handle: Any, *, array: np.ndarray) -> None:
    np.save(handle, array)


def _mapped_name(array_name: str) -> str:
    return f"scorer.{array_name}.npy"


def _build_index(scorer: Scorer, min_items: int | None, seed: int) -> ann.ItemIndex | None:
    """An ItemIndex for an embedding scorer with at least ``min_items`` items, else None."""
    if min_items is None or not isinstance(scorer, RecommendationScorer) or scorer.n_items < min_items:
        return None
    vectors = scorer.ann_vectors()
    if vectors is None:
        return None
    return ann.build_index(vectors, queries=scorer.ann_queries(), seed=seed)


def _index_bytes(index: ann.ItemIndex) -> bytes:
    # faiss writes to a path; the bytes go through _write_atomically like every other file.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ann.INDEX_FILE
        index.save(path)
        return path.read_bytes()


def _load_index(directory: Path, manifest: dict, scorer: RecommendationScorer) -> ann.ItemIndex:
    _verify_file(directory, ann.INDEX_FILE, manifest)
    described = manifest["ann_index"]
    try:
        index = ann.ItemIndex.load(
            directory / ann.INDEX_FILE, nprobe=described["nprobe"], recall=described["recall_at_10"]
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{directory / MANIFEST} describes the index incompletely ({exc})") from exc
    except RuntimeError as exc:  # faiss reports a bad file as a RuntimeError
        raise ArtifactError(f"{directory / ann.INDEX_FILE} cannot be read as an index ({exc})") from exc
    if index.n_items != scorer.n_items:
        raise ArtifactError(f"{directory / ann.INDEX_FILE} holds {index.n_items} items; the model has {scorer.n_items}")
    return index


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
