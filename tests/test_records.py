"""The typed results' JSON form: field names as keys, flattened and optional fields, keys that
are not Python names, and a reader that refuses what no field claims."""

import json
import math
from dataclasses import dataclass

import pytest

from lth_hedging.foundations.records import Record, encode, entry


def _level(key: str) -> bool:
    return key.startswith("T")


@dataclass(frozen=True, kw_only=True)
class Leaf(Record):
    difference: float
    ci: list[float]


@dataclass(frozen=True, kw_only=True)
class Row(Record):
    low: float = entry(key="from")
    levels: dict[str, int | None] = entry(flat=True, keys=_level)
    dense: dict[str, int | None] = entry(flat=True, prefix="dense_")
    auc: float
    paired: Leaf | None = entry(optional=True)
    by_kind: dict[str, Leaf]
    rows: list[Leaf]
    pair: tuple[int, int]


ROW = Row(low=0.5, levels={"T50": 3, "T90": None}, dense={"T50": 4}, auc=0.25,
          by_kind={"dense": Leaf(difference=-0.1, ci=[-0.2, math.nan])},
          rows=[Leaf(difference=1.0, ci=[0.5, 1.5])], pair=(1, 2))


def test_a_record_is_written_in_its_documented_form():
    assert ROW.to_json() == {
        "from": 0.5, "T50": 3, "T90": None, "dense_T50": 4, "auc": 0.25,
        "by_kind": {"dense": {"difference": -0.1, "ci": [-0.2, ROW.by_kind["dense"].ci[1]]}},
        "rows": [{"difference": 1.0, "ci": [0.5, 1.5]}], "pair": [1, 2]}  # None left out


def test_a_record_reads_back_as_written():
    stored = json.loads(json.dumps(encode(ROW)))
    again = Row.from_json(stored)
    assert json.dumps(encode(again)) == json.dumps(stored)
    assert again.pair == (1, 2) and isinstance(again.by_kind["dense"], Leaf)
    assert again.levels == {"T50": 3, "T90": None} and again.dense == {"T50": 4}
    with_pair = Row.from_json({**stored, "paired": {"difference": 0.0, "ci": [0.0, 0.0]}})
    assert with_pair.paired == Leaf(difference=0.0, ci=[0.0, 0.0])


def test_a_key_no_field_claims_is_refused():
    stored = {**ROW.to_json(), "AUC40": 0.3}
    with pytest.raises(KeyError, match="AUC40"):
        Row.from_json(stored)
    with pytest.raises(TypeError, match="expected a JSON object"):
        Leaf.from_json([1.0, [0.0, 2.0]])
