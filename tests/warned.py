"""Where a warning points, checked where it can be.

``make mutants`` runs the tests on mutmut's copy of the code, which calls every function through a trampoline: one
frame more between the caller and the warning, so there no warning points where it should. There, where a warning
points is checked instead by ``tests/mutants/elsewhere.py``, which writes each mutant into a plain copy of the
source (its ``scratch:`` routes) and runs these same tests.
"""

import os

UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


def points_at(warning, filename: str, lineno: int | None = None) -> bool:
    """Whether ``warning`` (a ``warnings.WarningMessage``) points at ``filename`` (and ``lineno``, if given)."""
    if UNDER_MUTMUT:
        return True
    return warning.filename == filename and lineno in (None, warning.lineno)
