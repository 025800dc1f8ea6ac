"""Preference records as the pairs TRL's DPO trainer reads: one row per pair, ``rejected`` a string.

A preference record holds a prompt, its best response (``chosen``) and the
others (``rejected``: one string for a pair, a list best first for a
ranking); review has put the agreed best first (annotation's
``preference_settle``). In a snapshot it becomes its pairs, ``chosen``
against each rejected response: n − 1 pairs from n responses, the rule
docs/formats.md gives. All of a record's pairs share its row fields
(``record_id``, ``submission_id``, split, copies): the record is placed by
its content hash, so one prompt never lands in two splits.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from annotation.ingest.schemas import text_fields
from annotation.ingest.tokens import count_batch


def pairs(columns: dict, *, tokenizer: str) -> dict:
    """A batch's columns with each preference row repeated once per rejected response; other rows as they are.

    ``rejected`` becomes one string per row. A ranking's pairs get their own
    token counts (prompt, chosen and that rejected response, counted as
    ingest counts a record with ``tokenizer``); a pair's row keeps its record's.
    """
    kinds, rejected = as_list(columns["kind"]), columns["rejected"]
    if "preference" not in kinds:
        return columns
    index, flat, recount = [], [], []
    for i, (kind, others) in enumerate(zip(kinds, rejected)):
        if kind != "preference":
            index.append(i)
            flat.append(None)
            continue
        others = [others] if isinstance(others, str) else others
        for other in others:
            if len(others) > 1:
                recount.append(len(index))
            index.append(i)
            flat.append(other)
    expanded = {name: take(values, index) for name, values in columns.items() if name != "rejected"}
    expanded["rejected"] = flat
    if recount:
        expanded["tokens"] = _pair_tokens(expanded, recount, tokenizer)
    return expanded


def _pair_tokens(columns: dict, rows: list[int], tokenizer: str) -> list[int]:
    tokens = as_list(columns["tokens"])
    prompts, chosen, rejected = columns["prompt"], as_list(columns["chosen"]), columns["rejected"]
    pairs_of_rows = [{"prompt": prompts[i], "chosen": chosen[i], "rejected": rejected[i]} for i in rows]
    texts = ["\n\n".join(text_fields("preference", pair)) for pair in pairs_of_rows]
    for i, count in zip(rows, count_batch(tokenizer, texts)):
        tokens[i] = count
    return tokens


def as_list(values) -> list:
    """A column as a Python list, whatever it came as (a list, an Arrow or a numpy array)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pylist()
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def take(values, index: list[int]):
    """``values`` at ``index``, in the container it came in (a list, an Arrow or a numpy array)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.take(pa.array(index, pa.int64()))
    if isinstance(values, np.ndarray):
        return values[np.asarray(index, dtype=np.int64)]
    return [values[i] for i in index]
