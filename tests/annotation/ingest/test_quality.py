import random
from collections import Counter

import pytest

from annotation.ingest.quality import (
    HISTOGRAM_BINS, histogram_add, histogram_merge, quality_signals, quality_signals_batch,
)
from annotation.ingest.words import split


def test_repeated_line_and_ngrams():
    # 17 characters, 9 one-letter words; "a b c" is repeated once.
    signals = quality_signals("a b c\na b c\nd e f", "en")
    assert signals["chars"] == 17
    assert signals["words"] == 9
    assert signals["mean_word_length"] == 1.0
    assert signals["lines"] == 3
    assert signals["duplicate_line_fraction"] == pytest.approx(1 / 3, abs=1e-4)
    assert signals["duplicate_line_char_fraction"] == pytest.approx(5 / 17, abs=1e-4)
    assert signals["top_2gram_char_fraction"] == pytest.approx(3 * 2 / 17, abs=1e-4)  # "a b" twice
    assert signals["top_3gram_char_fraction"] == pytest.approx(5 * 2 / 17, abs=1e-4)  # "a b c" twice
    assert signals["top_4gram_char_fraction"] == 0.0
    assert signals["duplicate_5gram_char_fraction"] == 0.0


def test_duplicate_ngrams_are_counted_once_and_skipped_past():
    text = "one two three four five one two three four five six"  # 51 characters
    signals = quality_signals(text, "en")
    # The second "one two three four five" repeats the first: 19 letters.
    assert signals["duplicate_5gram_char_fraction"] == pytest.approx(19 / 51, abs=1e-4)
    assert signals["duplicate_6gram_char_fraction"] == 0.0
    assert signals["duplicate_10gram_char_fraction"] == 0.0
    # Ties at two occurrences: the longest n-gram counts ("three four", "three four five", …).
    assert signals["top_2gram_char_fraction"] == pytest.approx(10 * 2 / 51, abs=1e-4)
    assert signals["top_3gram_char_fraction"] == pytest.approx(15 * 2 / 51, abs=1e-4)
    assert signals["top_4gram_char_fraction"] == pytest.approx(19 * 2 / 51, abs=1e-4)


def test_text_without_repeats_scores_zero_on_ngrams():
    signals = quality_signals("Translate this sentence into French", "en")
    assert all(signals[f"top_{n}gram_char_fraction"] == 0.0 for n in (2, 3, 4))


def test_n_grams_ignore_case_and_punctuation():
    signals = quality_signals("Hello, world. hello world!", "en")
    assert signals["top_2gram_char_fraction"] == pytest.approx(11 * 2 / 26, abs=1e-4)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("de", "Der Hund und die Katze schlafen. Das ist nicht ein Haus und der Garten.", 7),
        ("de-AT", "und und und Hund", 1),
        ("fr", "Le chat et la souris dorment. L'homme est dans le jardin.", 6),  # le et la l est dans
        ("el", "Ο σκύλος και η γάτα της γειτονιάς κοιμούνται.", 4),  # ο και η της
        ("nb", "Jeg og du", 3),
    ],
)
def test_distinct_stop_words(language, text, expected):
    assert quality_signals(text, language)["stop_words"] == expected


def test_no_stop_word_list_gives_none():
    assert quality_signals("Il-kelb u l-qattus", "mt")["stop_words"] is None


def test_word_symbol_digit_and_alpha_signals():
    signals = quality_signals("abc 123 - x1", "en")
    assert signals["words"] == 3  # "-" is a symbol, not a word
    assert signals["mean_word_length"] == pytest.approx(8 / 3, abs=1e-4)
    assert signals["digit_ratio"] == pytest.approx(4 / 12, abs=1e-4)
    assert signals["alpha_word_ratio"] == 0.5  # abc, x1 of abc, 123, -, x1
    assert quality_signals("#tag #other and more...", "en")["symbol_word_ratio"] == 0.75


def test_line_shape_signals():
    signals = quality_signals("- first item\n- second item...\nA sentence.\nNo punctuation", "en")
    assert signals["lines"] == 4
    assert signals["bullet_line_ratio"] == 0.5
    assert signals["ellipsis_line_ratio"] == 0.25
    assert signals["terminal_punctuation_line_ratio"] == 0.5


def test_greek_question_mark_ends_a_sentence_only_in_greek():
    assert quality_signals("Τι κάνεις;", "el")["terminal_punctuation_line_ratio"] == 1.0
    assert quality_signals("int x = 1;", "en")["terminal_punctuation_line_ratio"] == 0.0


def test_empty_text():
    signals = quality_signals("", "de")
    assert signals["chars"] == signals["words"] == signals["lines"] == signals["stop_words"] == 0
    assert all(value == 0 for value in signals.values())


def test_values_are_rounded_numbers():
    signals = quality_signals("Ein kurzer Satz, noch einer. Und ein dritter!", "de")
    for value in signals.values():
        assert isinstance(value, int | float)
        assert round(value, 4) == value


def test_histogram_add_and_merge():
    first, second = {}, {}
    histogram_add(first, {"words": 5, "mean_word_length": 3.0, "stop_words": None})
    histogram_add(first, {"words": 10, "digit_ratio": 0.99})
    histogram_add(second, {"words": 10**6})
    edges = HISTOGRAM_BINS["words"]
    assert first["words"] == [1, 1] + [0] * (len(edges) - 1)  # below 10; [10, 25)
    assert first["mean_word_length"][2] == 1  # [3, 4)
    assert first["digit_ratio"][-1] == 1  # overflow
    assert "stop_words" not in first

    merged = histogram_merge(first, second)
    assert merged["words"] == [1, 1] + [0] * (len(edges) - 2) + [1]
    assert first["words"][-1] == 0  # inputs untouched
    with pytest.raises(ValueError):
        histogram_merge(first, {"words": [1, 2]})


def test_histograms_count_every_signal_of_a_record():
    hist = {}
    histogram_add(hist, quality_signals("Ein kurzer Satz.", "de"))
    assert set(hist) == set(HISTOGRAM_BINS)
    assert all(sum(counts) == 1 for counts in hist.values())


def _reference_ngram_signals(words: list[str], chars: int) -> dict:
    """Gopher's repetition signals the plain way (datatrove's loops over joined n-grams), for comparison."""
    signals = {}
    for n in (2, 3, 4):
        ngrams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(ngrams)
        top = max(counts.values(), default=1)
        value = max((len(g) for g, c in counts.items() if c == top), default=0) * top if top > 1 else 0
        signals[f"top_{n}gram_char_fraction"] = round(value / chars, 4) if chars else 0.0
    for n in range(5, 11):
        seen, repeated, index = set(), 0, 0
        while index < len(words) - n + 1:
            ngram = "".join(words[index : index + n])
            if ngram in seen:
                repeated += len(ngram)
                index += n
            else:
                seen.add(ngram)
                index += 1
        signals[f"duplicate_{n}gram_char_fraction"] = round(repeated / chars, 4) if chars else 0.0
    return signals


def test_repeated_ngram_signals_equal_the_plain_definitions_for_a_batch():
    rng = random.Random(0)
    vocabulary = "a b c Haus l'homme don't 12 ... # — «x» über".split()
    texts = ["", "a", "a a", "a b a b a b", "x\nx\ny"]
    for _ in range(400):
        some = vocabulary[: rng.randint(2, len(vocabulary))]
        text = " ".join(rng.choice(some) for _ in range(rng.randint(0, rng.choice([6, 40, 300]))))
        texts.append((text + "\n") * rng.randint(1, 3))
    signals = quality_signals_batch(texts, [split(text) for text in texts], "de")
    for text, measured in zip(texts, signals):
        expected = _reference_ngram_signals(split(text).words, len(text))
        assert {name: measured[name] for name in expected} == expected
        assert measured == quality_signals(text, "de")
