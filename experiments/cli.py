"""Command lines generated from an experiment's ``Config`` dataclass, so flags are never mirrored by hand.

Every field becomes a flag (``test_points`` → ``--test-points``) with the field's default, a type read from its
annotation, and help text from the comment on the field's line. ``Literal[...]`` fields get their choices,
``tuple[int, ...]`` takes one or more values, ``tuple[float, float]`` exactly two, ``bool`` a ``--x`` / ``--no-x``
pair. :func:`check` validates a config's ``Literal`` fields and is what the configs' ``__post_init__`` calls, so
``main(Config(...))`` and the command line refuse the same values, before any training starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing


def _comments(cls) -> dict[str, str]:
    """``{field: comment}`` from the lines ``name: type = default  # comment`` of the class's source."""
    found = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def _unwrap_optional(tp):
    """``X | None`` → ``(X, True)``; anything else → ``(tp, False)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def check(config) -> None:
    """Raises ``ValueError`` naming the field, the value and the valid choices for a ``Literal`` field out of range."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        tp, optional = _unwrap_optional(hints[field.name])
        value = getattr(config, field.name)
        if typing.get_origin(tp) is typing.Literal and not (optional and value is None):
            if value not in typing.get_args(tp):
                raise ValueError(f"unknown {field.name} {value!r}; valid values are {list(typing.get_args(tp))}")


def parser(cls, description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one flag per field of the dataclass ``cls``."""
    hints, comments = typing.get_type_hints(cls), _comments(cls)
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[field.name])
        flag = "--" + field.name.replace("_", "-")
        kwargs = {"default": field.default, "help": comments.get(field.name, "")}
        if tp is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            args = typing.get_args(tp)
            variadic = len(args) == 2 and args[1] is Ellipsis
            kwargs.update(type=args[0], nargs="+" if variadic else len(args))
        elif typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            kwargs.update(type=type(choices[0]), choices=choices)
        else:
            kwargs.update(type=tp)
        p.add_argument(flag, metavar=field.name.upper() if "choices" not in kwargs else None, **kwargs)
    return p


def parse(cls, argv=None, description: str | None = None):
    """Parses ``argv`` into a ``cls`` instance; an invalid value exits with a usage error naming it."""
    p = parser(cls, description)
    args = vars(p.parse_args(argv))
    hints = typing.get_type_hints(cls)
    for name, value in args.items():  # argparse gives lists where the dataclass holds tuples
        if typing.get_origin(_unwrap_optional(hints[name])[0]) is tuple and value is not None:
            args[name] = tuple(value)
    try:
        return cls(**args)
    except ValueError as e:
        p.error(str(e))
