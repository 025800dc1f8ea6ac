"""Turn a mixture (token budgets or weights, English replay) into a sampling weight per language.

The weight multiplies each record's upsampling factor: 0.5 keeps about
half the tokens, 2.0 writes each record twice. Budgets are reached in
expectation, which keeps the choice per record independent of the others.
No record is written more than ``max_epochs`` times: a budget that would
need more is refused (``shortfalls``), never met by silent repetition.
"""

from __future__ import annotations


def budgets(mixture: dict, available: dict[str, int]) -> dict[str, float]:
    """Tokens wanted per language; languages the mixture does not name keep all they have."""
    wanted = {lang: float(tokens) for lang, tokens in available.items()}
    if "tokens" in mixture:
        wanted.update({lang: float(n) for lang, n in mixture["tokens"].items()})
    elif "weights" in mixture:
        total = float(mixture["total_tokens"])
        weights = mixture["weights"]
        norm = sum(weights.values()) or 1.0
        wanted.update({lang: total * w / norm for lang, w in weights.items()})
    replay = mixture.get("replay")
    if replay:
        # Replay is a share of the whole: en = share * (others + en).
        share = float(replay["share"])
        others = sum(v for lang, v in wanted.items() if lang != replay["language"])
        wanted[replay["language"]] = others * share / (1 - share)
    return wanted


def weights(mixture: dict, available: dict[str, int]) -> dict[str, float]:
    """Sampling weight per language: budget over the (upsampled) tokens available."""
    if not mixture:
        return {lang: 1.0 for lang in available}
    wanted = budgets(mixture, available)
    return {lang: (wanted[lang] / available[lang] if available[lang] else 0.0) for lang in available}


class BudgetRefused(ValueError):
    """Token budgets that cannot be met without repeating documents more than the cap allows."""

    def __init__(self, shortfalls: list[dict]):
        self.shortfalls = shortfalls
        super().__init__("; ".join(
            f"{s['language']}: a budget of {s['budget']} tokens cannot be met within {s['cap']} epochs, "
            f"{s['available']} tokens are available" for s in shortfalls
        ))


def shortfalls(mixture: dict, available: dict[str, int], peaks: dict[str, int], cap: int) -> list[dict]:
    """Languages whose budget needs more than ``cap`` epochs: the budget and the tokens available within the cap.

    ``available`` are upsampled tokens and ``peaks`` the most copies
    upsampling gives one record of the language, so a weight ``w`` writes a
    record at most ``w * peak`` times (rounded up); within the cap the
    language yields ``available * cap / peak`` tokens.
    """
    wanted = budgets(mixture, available)
    found = []
    for lang in sorted(available):
        within = available[lang] * cap / peaks[lang] if peaks[lang] else 0.0
        if wanted[lang] > within * (1 + 1e-9):  # the tolerance absorbs float rounding at an exact fit
            found.append({"language": lang, "budget": round(wanted[lang]), "available": int(within), "cap": cap})
    return found
