"""Why a test skips, in words that say what to install or set to run it."""

from jaxnet import data

ALL_EXTRAS = "test,plots,data,docs,playground,tensorboard,interop"

MNIST = (f"needs the four original MNIST .gz files: set {data.ENV_VAR} to their folder "
         f"({data.ENV_VAR}=/path/to/mnist make test)")


def extra(name: str) -> str:
    """The reason for a test that needs the package extra ``name``."""
    return (f"the {name} extra is not installed: make test EXTRAS=test,plots,{name} "
            f"(the whole suite: make test EXTRAS={ALL_EXTRAS})")
