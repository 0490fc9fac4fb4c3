"""Checkpoints: parameters, optimizer state, epoch and PRNG key in one ``.npz`` with a JSON header.

The file holds one array per leaf of ``(params, opt_state)`` (``leaf_0``, ``leaf_1``, … in ``jax.tree`` order), the
key's raw data, and ``header``: a JSON document with the epoch, the tree structure, every leaf's path, shape and
dtype, and whatever the caller adds (layer sizes, activation, versions, the training history).

Writes are atomic: the file is written under a temporary name (``.<name>.tmp-*``) in the same directory and then
renamed over the old one (``os.replace``), so a run killed during a save still has its previous checkpoint; the
next successful save removes the temporary files such a kill leaves behind. :func:`restore` checks the stored
structure, shapes and dtypes against templates and refuses any mismatch, naming the first offending leaf; a
truncated, empty or foreign file gets a ``ValueError`` that names it and says what to do.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import zipfile
from typing import Any

import jax
import numpy as np

FORMAT = "jaxnet-checkpoint-1"
RESUME = (True, False, "auto")  # the resume= policies: must, never, if the checkpoint exists


def _describe(tree) -> tuple[str, list[dict]]:
    paths_and_leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = [{"path": jax.tree_util.keystr(path), "shape": list(np.shape(leaf)), "dtype": str(np.asarray(leaf).dtype)}
              for path, leaf in paths_and_leaves]
    return str(treedef), leaves


def _key_to_numpy(key) -> tuple[np.ndarray, str | None]:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key))
    return np.asarray(key), None


def save(path: str | os.PathLike, *, params, opt_state, epoch: int, key, meta: dict[str, Any] | None = None,
         extras: dict[str, Any] | None = None) -> None:
    """Atomically writes a checkpoint to ``path`` (a ``.npz`` file).

    Args:
      path: the checkpoint file; its directory is created if needed.
      params, opt_state: pytrees of arrays (a ``list`` of ``(W, b)`` and an optax state).
      epoch: the number of epochs completed.
      key: the run's PRNG key (typed or raw ``uint32``).
      meta: more JSON-serialisable facts for the header (layer sizes, activation, dtype, history, ...).
      extras: more arrays by name (the callbacks' states, such as early stopping's best parameters), read back by
        :func:`read_extras`.
    """
    path = os.fspath(path)
    state = (params, opt_state)
    treedef, leaves = _describe(state)
    key_data, key_impl = _key_to_numpy(key)
    header = {"format": FORMAT, "epoch": int(epoch), "treedef": treedef, "leaves": leaves, "key_impl": key_impl,
              "versions": {"jax": jax.__version__, "numpy": np.__version__}, "meta": meta or {}}
    arrays = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))}
    arrays["key"] = key_data
    extras = extras or {}
    header["extras"] = sorted(extras)
    arrays.update({f"extra:{name}": np.asarray(value) for name, value in extras.items()})
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    prefix = f".{name}.tmp-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    # Only now, with the new checkpoint in place: leftovers of saves that were killed before their rename.
    for stale in glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that does not match the state it should restore."""


# What numpy raises on a file that is empty, truncated or not an .npz at all.
_UNREADABLE = (zipfile.BadZipFile, EOFError, OSError, KeyError, UnicodeDecodeError, json.JSONDecodeError)


@contextlib.contextmanager
def _reading(path):
    """Opens ``path`` with ``np.load``; turns what an unreadable file raises into a ``ValueError`` that says why."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        # Opened here, not by np.load, which leaves its file open when the zip turns out to be broken.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            yield data
    except CheckpointError:
        raise
    except _UNREADABLE + (ValueError,) as e:
        # NumPy's own words for a pickle ask for allow_pickle=True, which would run the file's code: not a way out.
        why = ("it holds pickled Python objects, which a jaxnet checkpoint never does (they are not loaded: "
               "unpickling can run code)" if "pickle" in str(e) else
               f"{type(e).__name__}: {e}; it may be empty, truncated by a killed run, or another kind of file")
        raise CheckpointError(f"{path} is not a readable jaxnet checkpoint ({why}). Delete or move it, or pass "
                              f"resume=False to start fresh (the file is then overwritten)") from e


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header of a checkpoint, without loading its arrays."""
    with _reading(path) as data:
        return _header(data, path)


def _header(data, path) -> dict:
    if "header" not in data.files:
        raise CheckpointError(f"{os.fspath(path)} is not a jaxnet checkpoint (no header); delete or move it, or pass "
                         f"resume=False to start fresh (the file is then overwritten)")
    header = json.loads(data["header"].tobytes().decode())
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{os.fspath(path)}: unknown checkpoint format {header.get('format')!r}, "
                              f"expected {FORMAT!r}")
    return header


def restore(path: str | os.PathLike, *, params, opt_state):
    """Loads a checkpoint written by :func:`save`, checked against templates of the expected state.

    Args:
      path: the checkpoint file.
      params, opt_state: templates with the structure, shapes and dtypes the checkpoint must have (for example
        freshly initialised ones).

    Returns:
      ``(params, opt_state, epoch, key, header)``, the arrays as ``jax.Array``.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: if the file is not a readable checkpoint, or the structure, a shape or a dtype differs (naming
        the first offending leaf).
    """
    expected_treedef, expected = _describe((params, opt_state))
    with _reading(path) as data:
        header = _header(data, path)
        if header["treedef"] != expected_treedef or len(header["leaves"]) != len(expected):
            raise CheckpointError(f"{os.fspath(path)}: the checkpoint's structure {header['treedef']} does not "
                                  f"match the expected {expected_treedef}")
        for stored, wanted in zip(header["leaves"], expected):
            if stored != wanted:
                raise CheckpointError(f"{os.fspath(path)}: leaf {wanted['path']} is stored with shape "
                                      f"{stored['shape']} and dtype {stored['dtype']}, expected shape "
                                      f"{wanted['shape']} and dtype {wanted['dtype']}")
        leaves = [jax.numpy.asarray(data[f"leaf_{i}"]) for i in range(len(expected))]
        key = data["key"]
    key = jax.random.wrap_key_data(key, impl=header["key_impl"]) if header["key_impl"] else jax.numpy.asarray(key)
    treedef = jax.tree.structure((params, opt_state))
    params, opt_state = jax.tree.unflatten(treedef, leaves)
    return params, opt_state, header["epoch"], key, header


def read_extras(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays :func:`save` was given as ``extras``, by name (empty for a checkpoint without any)."""
    with _reading(path) as data:
        header = _header(data, path)
        return {name: np.asarray(data[f"extra:{name}"]) for name in header.get("extras", [])}


def restore_params(path: str | os.PathLike, *, params):
    """Loads only the parameters of a checkpoint written by :func:`save` (for inference: no optimizer needed).

    Args:
      path: the checkpoint file.
      params: a template with the structure, shapes and dtypes the stored parameters must have.

    Returns:
      The parameters, as ``jax.Array`` leaves in the structure of ``params``.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      ValueError: if the file is not a readable checkpoint, or its parameters differ from the template in number,
        shape or dtype (naming the first offending leaf).
    """
    _, expected = _describe(params)
    with _reading(path) as data:
        header = _header(data, path)
        # The stored state is the pair (params, opt_state): its parameters are the leaves under [0].
        stored = [leaf for leaf in header["leaves"] if leaf["path"].startswith("[0]")]
        if len(stored) != len(expected):
            raise CheckpointError(f"{os.fspath(path)}: the checkpoint holds {len(stored)} parameter arrays, the "
                                  f"template {len(expected)}")
        for leaf, wanted in zip(stored, expected):
            if (leaf["shape"], leaf["dtype"]) != (wanted["shape"], wanted["dtype"]):
                raise CheckpointError(f"{os.fspath(path)}: parameter {wanted['path']} is stored with shape "
                                      f"{leaf['shape']} and dtype {leaf['dtype']}, expected shape {wanted['shape']} "
                                      f"and dtype {wanted['dtype']}")
        leaves = [jax.numpy.asarray(data[f"leaf_{i}"]) for i in range(len(expected))]
    return jax.tree.unflatten(jax.tree.structure(params), leaves)


def should_resume(path, resume) -> bool:
    """Whether a run resumes from ``path``, by the ``resume=`` policy: ``True`` (must), ``False`` (never),
    ``"auto"`` (if the checkpoint exists).

    Raises:
      ValueError: for another ``resume`` value, or ``resume=True`` without a checkpoint path.
      FileNotFoundError: for ``resume=True`` when the checkpoint does not exist.
    """
    if not any(resume is r for r in RESUME):
        raise ValueError(f"resume must be True, False or 'auto', got {resume!r}")
    if resume is True and path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    if resume is True and not os.path.exists(path):
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {path}; pass resume=False to "
                                f"start fresh or resume='auto' to resume only when it exists")
    return resume is True or (resume == "auto" and path is not None and os.path.exists(path))


def _key_data(key) -> np.ndarray:
    return np.asarray(jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) else key)


def restore_run(path: str | os.PathLike, *, params, opt_state, key):
    """``(params, opt_state, epochs done, history)`` from the checkpoint at ``path``, after checking that a run with
    ``key`` wrote it (typed and raw keys alike), so that the resumed epochs shuffle as the first run's did.

    Raises:
      ValueError: for a checkpoint of another key, besides everything :func:`restore` raises.
    """
    params, opt_state, start, saved_key, header = restore(path, params=params, opt_state=opt_state)
    if not np.array_equal(_key_data(saved_key), _key_data(key)):
        raise ValueError(f"{os.fspath(path)} was written by a run with another key; pass the same key to resume, or "
                         f"resume=False to start fresh")
    return params, opt_state, start, header["meta"].get("history", [])
