"""The one rule that turns a typed value into the exact string labeler stores, shows and matches.

Text formats need no rule: a cell is the text between its delimiters (CSV/TSV) or the JSON token
(JSONL, numbers kept as written). Typed files (Parquet) do, and the import and the export must apply
the same one, or an id read as ``2024-01-01 00:00:00`` at import is looked for as
``2024-01-01 00:00:00.000000`` at export and a bool label reads ``True`` on one side and ``true`` on
the other. The rule, by Arrow type:

- null (and a float NaN): the empty string, an unlabeled or missing value;
- string: as it is; dictionary (pandas categorical): the string of its value;
- integer and decimal: their decimal digits; float: Python's shortest round-trip ``repr`` (``1.0``);
- bool: ``true`` / ``false``, as JSON writes them (a JSONL file's bools read the same);
- date, time, timestamp: ISO 8601 with ``T`` and only the fraction digits the value needs;
- list, struct, map: JSON text.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc


def _float_text(v) -> str:
    return "" if v is None or v != v else repr(float(v))


def _temporal_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)  # a pandas Timestamp with nanoseconds, a timedelta


def _json_default(v):
    if isinstance(v, (dt.date, dt.time, dt.datetime)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def text_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The column as one string array (no nulls) by the rule above."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    t = col.type
    if pa.types.is_dictionary(t):
        return text_array(col.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = col.cast(pa.string()) if pa.types.is_large_string(t) else col
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        out = pc.cast(col, pa.string())
    elif pa.types.is_boolean(t):
        out = pc.if_else(col, "true", "false")
    elif pa.types.is_floating(t):
        return pa.array([_float_text(v) for v in col.to_pylist()], pa.string())
    elif pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        # per value: Arrow's cast writes every fraction digit of the unit (".000000")
        return pa.array([_temporal_text(v) for v in col.to_pandas().tolist()]
                        if pa.types.is_timestamp(t) and t.unit == "ns" else
                        [_temporal_text(v) for v in col.to_pylist()], pa.string())
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array(["" if v is None else v.decode("utf-8", errors="replace") for v in col.to_pylist()],
                        pa.string())
    elif pa.types.is_nested(t):
        return pa.array(["" if v is None else json.dumps(v, default=_json_default) for v in col.to_pylist()],
                        pa.string())
    else:
        return pa.array(["" if v is None else str(v) for v in col.to_pylist()], pa.string())
    return pc.fill_null(out, "")


def text_value(value) -> str:
    """One Python value (as ``to_pylist`` gives it) by the same rule."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, (dt.date, dt.time)):
        return _temporal_text(value)
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=_json_default)
    return str(value)


def from_text(values: list[str], like: pa.DataType) -> pa.Array:
    """Strings back into a column of type ``like``: the inverse of the rule, for the label cells an
    export writes. Raises ``ValueError`` naming the value that the type cannot hold."""
    if pa.types.is_dictionary(like):
        return pa.array(values, pa.string()).dictionary_encode().cast(
            pa.dictionary(like.index_type, pa.string()))
    if pa.types.is_string(like) or pa.types.is_large_string(like):
        return pa.array(values, like)
    if pa.types.is_boolean(like):
        bad = [v for v in values if v not in ("true", "false")]
        if bad:
            raise ValueError(bad[0])
        return pa.array([v == "true" for v in values], like)
    out = []
    for v in values:
        try:
            out.append(pa.array([v], pa.string()).cast(like))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if pa.types.is_timestamp(like) or pa.types.is_date(like):
                try:
                    out.append(pa.array([dt.datetime.fromisoformat(v)]).cast(like))
                    continue
                except (ValueError, pa.ArrowInvalid):
                    pass
            raise ValueError(v) from None
    return pa.concat_arrays(out) if out else pa.array([], like)
