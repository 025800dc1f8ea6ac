import random

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from annotation.ingest.tokens import count_batch, get_counter


def test_regex_counter_counts_gpt2_pretokens():
    count = get_counter("regex")
    assert count("Hello world") == 2
    assert count("I'm here.") == 4  # I, 'm, " here", .
    assert count("Straße 12, Αθήνα!") == 5  # Straße, " 12", ",", " Αθήνα", !
    assert count("") == 0


def test_counters_are_cached_per_spec():
    assert get_counter("regex") is get_counter("regex")


def _save_tokenizer(path, *, truncate=False):
    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "[CLS]": 1, "hello": 2, "world": 3}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", 1)])
    if truncate:
        tokenizer.enable_truncation(max_length=2)
    tokenizer.save(str(path))
    return path


def test_tokenizer_json_counter_counts_ids_without_special_tokens(tmp_path):
    count = get_counter(str(_save_tokenizer(tmp_path / "tokenizer.json")))
    assert count("hello world hello") == 3
    assert count("hello unknown") == 2


def test_truncation_in_the_file_does_not_cap_the_count(tmp_path):
    count = get_counter(str(_save_tokenizer(tmp_path / "tokenizer.json", truncate=True)))
    assert count("hello world hello world") == 4


def test_missing_tokenizer_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "tokenizer.json"
    with pytest.raises(ValueError, match=str(missing)):
        get_counter(str(missing))


def test_batch_counts_equal_one_by_one_counts(tmp_path):
    texts = ["hello world hello", "", "world", "I'm here."]
    path = str(_save_tokenizer(tmp_path / "tokenizer.json", truncate=True))
    for spec in ("regex", path):
        assert count_batch(spec, texts) == [get_counter(spec)(text) for text in texts]


def test_batch_regex_count_equals_the_regex_on_generated_text():
    # Contractions, spaces of every kind, digits of other scripts, marks, emoji, edges of texts.
    pieces = list("abcsdtmlrevxyAB  \n\n\t'’.,;!?-09²½ⅣßΑθή\u0301\u00a0\u2003😀_#")
    pieces += ["'s", "'re", "'ll", "'ve", "'d", " '"]
    rng = random.Random(0)
    texts = ["", " ", "'s", " 's", "\n's", "x 's", "don't", "'sa", "'s1", "''s", "a\n\nb", "a  b", "a \n b ", "' s"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    assert count_batch("regex", texts) == [get_counter("regex")(text) for text in texts]
