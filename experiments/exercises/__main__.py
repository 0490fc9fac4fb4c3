"""``python -m experiments.exercises check my_backprop.py``: grades a file that defines the exercises' functions."""

import argparse
import os
import sys

if __name__ == "__main__" and not __package__:  # run as a file: import the package from the repository root
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments import exercises  # noqa: E402


def main(argv=None) -> int:
    """Prints each exercise's result and the count passed; returns 0 when every exercise passed, else 1."""
    parser = argparse.ArgumentParser(prog="python -m experiments.exercises",
                                     description="Grades the back-propagation exercises of "
                                                 "experiments/exercises/backprop.ipynb in a file that defines them.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check a Python file that defines the exercises' functions")
    check.add_argument("file", help="the file, e.g. my_backprop.py")
    args = parser.parse_args(argv)
    try:
        results = exercises.check_file(args.file)
    except (FileNotFoundError, SyntaxError) as e:
        parser.error(str(e))
    for result in results:
        print(result)
    passed = sum(r.passed for r in results)
    print(f"{passed} of {len(results)} passed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
