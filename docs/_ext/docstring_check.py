"""Fails the (strict) build when a public name of jaxnet has no docstring: the API reference is generated from the
docstrings, so a name without one would be missing from it.

Public: every function and class a module of ``jaxnet`` defines whose name has no leading underscore, and the
public methods and properties of those classes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from sphinx.util import logging

logger = logging.getLogger(__name__)


def undocumented() -> list[str]:
    """The public names of jaxnet's modules that have no docstring, as ``module.name``."""
    import jaxnet

    missing = []
    for info in pkgutil.iter_modules(jaxnet.__path__):
        module = importlib.import_module(f"jaxnet.{info.name}")
        if not inspect.getdoc(module):
            missing.append(module.__name__)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ != module.__name__:
                continue  # imported from elsewhere; documented where it is defined
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if (inspect.isfunction(member) or isinstance(member, property)) and not member.__doc__:
                        missing.append(f"{module.__name__}.{name}.{attr}")
    return missing


def check(app) -> None:
    for name in undocumented():
        logger.warning(f"public name without a docstring (it would be missing from the API reference): {name}")


def setup(app):
    app.connect("builder-inited", check)
    return {"parallel_read_safe": True}
