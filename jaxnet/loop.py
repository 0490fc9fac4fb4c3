"""Deprecated: the host-side helpers that were here now live where they are used. The progress bar and the log file
are in :mod:`jaxnet.callbacks` (``ProgressBar``, ``in_notebook``, ``start_log``, ``append_log``), the divergence
check in :mod:`jaxnet.train` (``check_finite``) and the resume policy in :mod:`jaxnet.checkpoint` (``RESUME``,
``should_resume``, and ``restore_run``, which ``restore`` was). Each old name still works for one release, with a
``DeprecationWarning`` naming its new home.
"""

from __future__ import annotations

import importlib
import warnings

# old name -> (module, new name)
_MOVED = {"Progress": ("callbacks", "ProgressBar"), "in_notebook": ("callbacks", "in_notebook"),
          "start_log": ("callbacks", "start_log"), "append_log": ("callbacks", "append_log"),
          "check_finite": ("train", "check_finite"), "RESUME": ("checkpoint", "RESUME"),
          "should_resume": ("checkpoint", "should_resume"), "restore": ("checkpoint", "restore_run")}


def __getattr__(name: str):
    if name in _MOVED:
        module, new = _MOVED[name]
        warnings.warn(f"jaxnet.loop.{name} moved to jaxnet.{module}.{new}; jaxnet.loop will be removed in the next "
                      f"release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(f"jaxnet.{module}"), new)
    raise AttributeError(f"module 'jaxnet.loop' has no attribute {name!r}")
