"""The package's modules import each other one way, as docs/api/index.md draws it: each module imports only modules of
a lower layer (read from the source with ast, every import statement, inside functions too)."""

import ast
import importlib.util
import os

import pytest

# The package's folder, found without importing it: the checkout's, or the installed wheel's.
PACKAGE = importlib.util.find_spec("jaxnet").submodule_search_locations[0]

# Written out here, from the documented order; a new module must be placed in it.
LAYERS = [
    {"activations", "checkpoint", "data", "distributed", "placement", "loop"},
    {"losses"},
    {"mlp"},
    {"perceptron", "backprop", "stream", "datachecks", "interop"},
    {"program", "gradcheck"},
    {"evaluation"},
    {"callbacks"},
    {"train"},
]
LAYER = {module: rank for rank, modules in enumerate(LAYERS) for module in modules}
MODULES = sorted(name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py") and name != "__init__.py")


def imported(module: str) -> set[str]:
    """The jaxnet modules ``module``'s source imports."""
    with open(os.path.join(PACKAGE, f"{module}.py")) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "jaxnet":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxnet."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("jaxnet."))
    return found


def test_every_module_has_a_layer():
    assert set(MODULES) == set(LAYER), "place a new module in LAYERS (and in docs/api/index.md's order)"


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_only_lower_layers(module):
    upward = sorted(m for m in imported(module) if LAYER[m] >= LAYER[module])
    assert not upward, f"jaxnet.{module} (layer {LAYER[module]}) imports {upward}, of its own layer or above"
