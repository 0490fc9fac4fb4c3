"""Command lines generated from an experiment's ``Config`` dataclass, so flags are never mirrored by hand.

Every field becomes a flag (``test_points`` → ``--test-points``) with the field's default, a type read from its
annotation, and help text from the comment on the field's line. ``Literal[...]`` fields get their choices,
``tuple[int, ...]`` takes one or more values, ``tuple[float, float]`` exactly two, ``bool`` a ``--x`` / ``--no-x``
pair. A field's valid range is written once, in its annotation: ``Annotated[float, Range(0, 1, high_open=True)]``
(every element of a tuple must lie in it; ``None`` always passes an optional field); the help text shows it.
:func:`check` validates a config's ``Literal`` and ``Range`` fields and is what the configs' ``__post_init__``
calls, so ``main(Config(...))`` and the command line refuse the same values, by the flag's name and the valid
range, before anything loads or trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Range:
    """The valid values of a numeric field: ``low <= value <= high`` (``None``: unbounded on that side; the
    ``*_open`` flags make a bound strict). Values must be finite: NaN and infinities are never in a range."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        number = lambda v: str(int(v)) if float(v).is_integer() else f"{v:g}"  # noqa: E731
        low = "-inf" if self.low is None else number(self.low)
        high = "inf" if self.high is None else number(self.high)
        return (f"{'(' if self.low_open or self.low is None else '['}{low}, "
                f"{high}{')' if self.high_open or self.high is None else ']'}")


def flag(name: str) -> str:
    """The command-line flag of the field ``name``: ``train_limit`` → ``--train-limit``."""
    return "--" + name.replace("_", "-")


def _range(tp) -> Range | None:
    """The ``Range`` in an ``Annotated[...]`` type, if any."""
    if typing.get_origin(tp) is typing.Annotated:
        return next((m for m in tp.__metadata__ if isinstance(m, Range)), None)
    return None


def _comments(cls) -> dict[str, str]:
    """``{field: comment}`` from the lines ``name: type = default  # comment`` of the class's source."""
    found = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+)\s*:[^#]*#\s*(.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def _unwrap(tp):
    """``(type, optional, range)`` of a field's annotation: ``Annotated[X, Range(...)] | None`` →
    ``(X, True, Range(...))``; the range may also annotate a tuple's element type."""
    optional = False
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            tp, optional = args[0], True
    valid = _range(tp)
    if valid is not None:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is tuple:  # tuple[Annotated[int, Range(1)], ...]
        elements = typing.get_args(tp)
        valid = valid or next((r for r in map(_range, elements) if r is not None), None)
        tp = tuple[tuple(typing.get_args(e)[0] if _range(e) else e for e in elements)]
    return tp, optional, valid


def _hints(cls) -> dict:
    return typing.get_type_hints(cls, include_extras=True)


def check(config, label: Callable[[str], str] = flag) -> None:
    """Raises ``ValueError`` naming the flag, the value and the valid choices or range of the first field of
    ``config`` out of its ``Literal`` choices or its ``Range``; ``label`` turns a field's name into the name the
    message uses (the flag, by default)."""
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        tp, optional, valid = _unwrap(hints[field.name])
        value = getattr(config, field.name)
        if optional and value is None:
            continue
        if typing.get_origin(tp) is typing.Literal and value not in typing.get_args(tp):
            raise ValueError(f"unknown {field.name} {value!r}; valid values are {list(typing.get_args(tp))}")
        values = value if isinstance(value, tuple) else (value,)
        if valid is not None and not all(v in valid for v in values):
            raise ValueError(f"{label(field.name)} must be in {valid}, got {value!r}")


def check_processes(config) -> None:
    """The multi-process fields of a config (``distributed``, ``coordinator``, ``num_processes``, ``process_id``):
    any of the last three implies ``distributed`` (they mean nothing in a one-process run, and without it each
    process would run alone, all writing the same files); a rank must be below the count, and the coordinator an
    address ``host:port``."""
    given = [name for name in ("coordinator", "num_processes", "process_id") if getattr(config, name) is not None]
    if given and not config.distributed:
        object.__setattr__(config, "distributed", True)  # the config is frozen; this is part of building it
    if config.process_id is not None and config.num_processes is not None and config.process_id >= config.num_processes:
        raise ValueError(f"--process-id must be in [0, {config.num_processes - 1}] for --num-processes "
                         f"{config.num_processes}, got {config.process_id}")
    if config.coordinator is not None:
        host, _, port = config.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--coordinator must be host:port with a port in [1, 65535], got {config.coordinator!r}")


def parser(cls, description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one flag per field of the dataclass ``cls``."""
    hints, comments = _hints(cls), _comments(cls)
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in dataclasses.fields(cls):
        tp, _, valid = _unwrap(hints[field.name])
        name = flag(field.name)
        text = comments.get(field.name, "") + (f"; valid: {valid}" if valid else "")
        kwargs: dict[str, typing.Any] = {"default": field.default, "help": text.replace("%", "%%")}
        if tp is bool:
            p.add_argument(name, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        if typing.get_origin(tp) is tuple:
            args = typing.get_args(tp)
            variadic = len(args) == 2 and args[1] is Ellipsis
            kwargs.update(type=args[0], nargs="+" if variadic else len(args))
        elif typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            if len({type(c) for c in choices}) > 1:  # one type converts the flag's text to any of them
                raise TypeError(f"{cls.__name__}.{field.name}: a Literal's choices must be of one type, got "
                                f"{list(choices)}")
            kwargs.update(type=type(choices[0]), choices=choices)
        else:
            kwargs.update(type=tp)
        p.add_argument(name, **kwargs)  # argparse shows a choice's values, else the field's name in capitals
    return p


def parse(cls, argv=None, description: str | None = None):
    """Parses ``argv`` into a ``cls`` instance; an invalid value exits with a usage error naming it."""
    p = parser(cls, description)
    args = vars(p.parse_args(argv))
    hints = _hints(cls)
    for name, value in args.items():  # argparse gives lists where the dataclass holds tuples
        if typing.get_origin(_unwrap(hints[name])[0]) is tuple and value is not None:
            args[name] = tuple(value)
    try:
        return cls(**args)
    except ValueError as e:
        p.error(str(e))
