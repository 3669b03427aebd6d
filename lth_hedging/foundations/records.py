"""Typed results: frozen dataclasses written as, and read back from, the JSON of the results
files, field for field (docs/store.md gives the form).

A ``Record`` is written with its fields' names as keys, in their order, nested records as
objects, tuples as lists. Three conventions keep the stored form a reader of the JSON
expects, declared on the field with ``entry``:

- ``flat``: a ``dict[str, X]`` field whose entries sit in the record itself rather than under
  the field's name — the levels of ``speed.ENDPOINTS`` (T50 … T90) beside a curve's AUC, for
  instance. ``prefix`` is put before each of its keys (``dense_T75``); ``keys`` says which
  keys are its own where a record has more than one flat field (the last takes the rest).
- ``optional``: the field is left out of the JSON while it is None (a row with no dense
  network to pair has no ``cvar_05_vs_dense``).
- ``key``: the JSON key where it is not the field's name (``from`` is Python's).

``Record.from_json`` reads that form back through the fields' type hints and refuses a key
no field claims; writing what it read gives the same JSON again, key for key (compare the
JSON text: a NaN is not equal to itself, and a tuple read back from JSON is a list).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")

_META = "record"


def entry(default: Any = dataclasses.MISSING, *, flat: bool = False, prefix: str = "",
          keys: Callable[[str], bool] | None = None, optional: bool = False,
          key: str | None = None) -> Any:
    """A field of a ``Record`` with a JSON convention (module doc)."""
    if optional and default is dataclasses.MISSING:
        default = None
    meta = {_META: {"flat": flat, "prefix": prefix, "keys": keys, "optional": optional,
                    "key": key}}
    return dataclasses.field(default=default, metadata=meta)


def _meta(f: dataclasses.Field) -> dict:
    return f.metadata.get(_META, {"flat": False, "prefix": "", "keys": None,
                                  "optional": False, "key": None})


class Record:
    """Base of the typed results (a frozen dataclass subclasses it)."""

    __dataclass_fields__: ClassVar[dict]

    def to_json(self) -> dict:
        out: dict = {}
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), _meta(f)
            if meta["optional"] and value is None:
                continue
            if meta["flat"]:
                out.update({meta["prefix"] + k: encode(v) for k, v in value.items()})
            else:
                out[meta["key"] or f.name] = encode(value)
        return out

    @classmethod
    def from_json(cls: type[R], data: dict) -> R:
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        plain = {(_meta(f)["key"] or f.name): f for f in fields if not _meta(f)["flat"]}
        rest = [k for k in data if k not in plain]
        values = {f.name: decode(hints[f.name], data[k]) for k, f in plain.items() if k in data}
        # flat fields with a prefix or a key rule first; one without either takes the rest
        flats = sorted((f for f in fields if _meta(f)["flat"]),
                       key=lambda f: not (_meta(f)["prefix"] or _meta(f)["keys"]))
        for f in flats:
            meta, inner = _meta(f), typing.get_args(hints[f.name])[1]
            own = [k for k in rest if k.startswith(meta["prefix"])
                   and (meta["keys"] is None or meta["keys"](k[len(meta["prefix"]):]))]
            values[f.name] = {k[len(meta["prefix"]):]: decode(inner, data[k]) for k in own}
            rest = [k for k in rest if k not in own]
        if rest:
            raise KeyError(f"{cls.__name__}: no field for the key(s) {rest}")
        return cls(**values)


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data: records as objects, tuples as lists."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


def decode(hint: Any, value: Any) -> Any:
    """``value`` (JSON data) as the type ``hint`` says: records, lists, tuples and dicts of
    them; JSON's own values as they are."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_json(value)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        records = [a for a in inner if isinstance(a, type) and issubclass(a, Record)]
        if len(inner) == 1 or (records and isinstance(value, dict)):
            return decode((records or inner)[0], value)
        return value  # a union of JSON's own types
    if not args:  # a bare list, tuple or dict: JSON's own values
        return value
    if origin is list:
        return [decode(args[0], v) for v in value]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in value)
        if len(args) != len(value):
            raise ValueError(f"expected {len(args)} values for {hint}, got {value!r}")
        return tuple(decode(a, v) for a, v in zip(args, value))
    if origin is dict:
        return {k: decode(args[1], v) for k, v in value.items()}
    return value
