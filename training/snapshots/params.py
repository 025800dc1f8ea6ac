"""A snapshot's parameters: defaults, validation, one canonical JSON form.

The canonical form is what the manifest records and what makes two builds
"the same parameters": every default is written out, keys are sorted.
"""

from __future__ import annotations

from annotation.ingest.quality import FILTERED_SIGNALS
from annotation.ingest.schemas import KINDS

SPLITS = ("train", "validation", "test")

# FineWeb-2's "rehydration": documents whose near-duplicate cluster is larger
# were kept by more independent sources, so they are repeated more, up to a
# point; very large clusters are boilerplate and get no boost.
# Rows: [min cluster size, max cluster size (None = no bound), repeats].
FINEWEB2_UPSAMPLING = [[1, 1, 1], [2, 4, 2], [5, 100, 3], [101, 1000, 2], [1001, None, 1]]

# Repeating data up to about 4 epochs is almost as good as new data; beyond
# that the returns fall off fast (Muennighoff et al. 2023, "Scaling
# Data-Constrained Language Models"). A mixture needing more is refused.
MAX_EPOCHS = 4

DEFAULTS = {
    "languages": [],
    "kinds": ["pretraining"],
    "statuses": ["accepted"],
    "drop_language_mismatch": True,
    "reduce_near_duplicates": True,
    "drop_pii_redacted": False,
    "drop_flagged": True,
    "min_quality": {},
    "max_quality": {},
    "min_rating": None,
    "mixture": {},
    "upsampling": None,
    "max_epochs": MAX_EPOCHS,
    "splits": {"train": 0.98, "validation": 0.01, "test": 0.01},
    "seed": 0,
    "decontaminate": True,
    "tokenizer": "",
    "rows_per_shard": 100_000,
    "row_group_rows": 2_000,
}


class ParameterError(ValueError):
    pass


def normalise(raw: dict) -> dict:
    """Fill in defaults and check every value; raise ParameterError with a readable message."""
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ParameterError(f"unknown parameters: {', '.join(sorted(unknown))}")
    params = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None or k == "min_rating"}}
    params["languages"] = sorted(set(params["languages"]))
    params["kinds"] = sorted(set(params["kinds"]))
    params["statuses"] = sorted(set(params["statuses"]))
    if not params["languages"]:
        raise ParameterError("choose at least one language")
    if not params["kinds"] or set(params["kinds"]) - set(KINDS):
        raise ParameterError(f"kinds must be some of {', '.join(KINDS)}")
    if "withdrawn" in params["statuses"]:
        raise ParameterError("withdrawn records never enter a snapshot")
    for bounds in ("min_quality", "max_quality"):
        if set(params[bounds]) - set(FILTERED_SIGNALS):
            raise ParameterError(f"{bounds} filters on these signals only: {', '.join(FILTERED_SIGNALS)}")
    params["splits"] = _splits(params["splits"])
    params["mixture"] = _mixture(params["mixture"], params["languages"])
    if params["upsampling"] == "fineweb2":
        params["upsampling"] = FINEWEB2_UPSAMPLING
    if params["upsampling"] is not None and not all(len(row) == 3 for row in params["upsampling"]):
        raise ParameterError("upsampling rows are [min cluster size, max cluster size or null, repeats]")
    params["max_epochs"] = _max_epochs(params["max_epochs"], params["upsampling"])
    params["seed"] = int(params["seed"])
    return params


def _max_epochs(value, upsampling: list | None) -> int:
    """How often one document may be written at most; upsampling alone must stay within it."""
    try:
        cap = int(value)
    except (TypeError, ValueError):
        cap = 0
    if cap < 1:
        raise ParameterError("max_epochs is a whole number of at least 1")
    if upsampling and max(int(row[2]) for row in upsampling) > cap:
        raise ParameterError(f"upsampling repeats documents more than max_epochs ({cap}) allows")
    return cap


def _splits(splits: dict) -> dict:
    if set(splits) - set(SPLITS):
        raise ParameterError(f"splits are {', '.join(SPLITS)}")
    fractions = {name: float(splits.get(name, 0)) for name in SPLITS}
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise ParameterError("split fractions must be non-negative and add up to 1")
    return fractions


def _mixture(mixture: dict, languages: list[str]) -> dict:
    """``{"tokens": {lang: budget}}`` or ``{"weights": {lang: w}, "total_tokens": n}``, plus replay.

    Replay: ``{"replay": {"language": "en", "share": 0.1}}`` makes English
    that share of all tokens, for continual pre-training.
    """
    if not mixture:
        return {}
    allowed = {"tokens", "weights", "total_tokens", "replay"}
    if set(mixture) - allowed:
        raise ParameterError(f"mixture keys are {', '.join(sorted(allowed))}")
    if "tokens" in mixture and "weights" in mixture:
        raise ParameterError("give token budgets or weights, not both")
    if "weights" in mixture and not mixture.get("total_tokens"):
        raise ParameterError("weights need total_tokens")
    named = set(mixture.get("tokens", {})) | set(mixture.get("weights", {}))
    replay = mixture.get("replay")
    if replay:
        if not 0 < float(replay.get("share", 0)) < 1 or replay.get("language") not in languages:
            raise ParameterError("replay needs a language of the snapshot and a share between 0 and 1")
        named.add(replay["language"])
    if named - set(languages):
        raise ParameterError(f"the mixture names languages outside the snapshot: {', '.join(sorted(named - set(languages)))}")
    return mixture
