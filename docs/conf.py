"""Sphinx configuration of jaxnet's documentation site (``make docs``).

Built with Sphinx and myst-nb, as jax, optax and flax build theirs: Markdown pages, the API reference from the
docstrings (autodoc with napoleon for the Google style), the lecture's notebook executed at build time. Pages that
restate a file of the repository are generated from it here, so each fact is written once: the lecture map from
``LECTURE.md`` (with links to the API and to the tests' source), the benchmarks from ``benchmarks/RESULTS.md``, the
changelog from ``CHANGELOG.md``, the notebook from ``experiments/lecture.ipynb``.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(HERE, "_ext")]
# The notebook's kernel is a separate process: it finds the experiments' package through PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join([ROOT] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                     else []))

import generate  # noqa: E402  (docs/_ext: the generated pages)

import jaxnet  # noqa: E402

generate.write_all(ROOT, os.path.join(HERE, "_generated"))

project = "jaxnet"
author = "the jaxnet authors"
release = version = jaxnet.__version__
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "docstring_check",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"jaxnet {release}"
html_static_path = ["_static"]
html_css_files = ["jaxnet.css"]
html_favicon = "_static/favicon.svg"

# Strict: every cross-reference must resolve. Names from other libraries have no inventory to resolve against
# (the build reads no network), so they alone are exempt.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jnp|jaxlib|optax|np|numpy|chex|tqdm|tensorflow|tensorflow_datasets|os|collections|typing)"
               r"(\..*)?"),
    (r"py:.*", r"(\w+\.)?(Array|Params|ActivationSpec|Mesh|NamedSharding|PartitionSpec|Any|Callable|Sequence"
               r"|NamedTuple)"),
    (r"py:.*", r"(optional|callable|array|str|int|float|bool|dict|list|tuple|None|os\.PathLike|PathLike)"),
]
suppress_warnings: list[str] = []

autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": False}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# NamedTuple fields are documented by autodoc itself; the Attributes section becomes a field list, not a duplicate.
napoleon_use_ivar = True

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# The notebook runs at every build; any cell error fails it.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_in_temp = True
nb_merge_streams = True
# No page loads anything from another host: MathJax is not used (the pages write formulas in Unicode).
