"""What a snapshot's parameters will give, per language, before anything is written."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum

from . import mixture, select
from .split import upsample_factor


def available(params: dict, language: str) -> dict:
    """Records and tokens the filters let through for training kinds, upsampling applied.

    ``peak`` is the most copies upsampling gives one record (0 without records).
    """
    kinds = [k for k in params["kinds"] if k != "evaluation"]
    if not kinds:
        return {"records": 0, "tokens": 0, "rows": 0, "upsampled_tokens": 0, "peak": 0}
    qs = select.records_for(params, language, kinds).qs
    if not params["upsampling"]:
        totals = qs.aggregate(records=Count("id"), tokens=Sum("tokens"))
        return {"records": totals["records"], "tokens": totals["tokens"] or 0, "rows": totals["records"],
                "upsampled_tokens": totals["tokens"] or 0, "peak": min(1, totals["records"])}
    sizes = select.cluster_sizes(language)
    records = tokens = rows = upsampled = peak = 0
    for cluster, count in qs.order_by().values_list("cluster", "tokens").iterator(chunk_size=select.CHUNK):
        factor = upsample_factor(sizes.get(cluster, 1), params["upsampling"])
        records, tokens, rows, upsampled = records + 1, tokens + count, rows + factor, upsampled + factor * count
        peak = max(peak, factor)
    return {"records": records, "tokens": tokens, "rows": rows, "upsampled_tokens": upsampled, "peak": peak}


def snapshot_estimate(params: dict) -> dict:
    """Per language: what is available, what the mixture is expected to take, and its most repeats (``epochs``).

    ``params`` must be normalised (params.normalise). The build uses the
    same weights, so the estimate and the build agree in expectation.
    Raises mixture.BudgetRefused when a budget needs more than
    ``max_epochs`` repeats of a document.
    """
    with transaction.atomic():
        select.planner_settings()
        per_language = {lang: available(params, lang) for lang in params["languages"]}
    tokens = {lang: a["upsampled_tokens"] for lang, a in per_language.items()}
    refused = mixture.shortfalls(params["mixture"], tokens, {lang: a["peak"] for lang, a in per_language.items()},
                                 params["max_epochs"])
    if refused:
        raise mixture.BudgetRefused(refused)
    weights = mixture.weights(params["mixture"], tokens)
    for lang, figures in per_language.items():
        figures["weight"] = round(weights[lang], 6)
        figures["expected_records"] = round(figures["rows"] * weights[lang])
        figures["expected_tokens"] = round(figures["upsampled_tokens"] * weights[lang])
        figures["epochs"] = round(figures["peak"] * weights[lang], 2)  # of the most repeated record, in expectation
    return per_language
