import random

from annotation.ingest.minhash import NUM_BANDS, band_hashes, band_hashes_batch
from annotation.ingest.words import ngram_keys, split

VOCABULARY = (
    "die der das und ist nicht ein eine Haus Stadt Fluss Brücke Zeit Jahr Tag Nacht Weg Buch Land "
    "Sprache Wort Bild Arbeit Schule Wasser Licht Straße Himmel Berg groß klein alt neu schnell "
    "langsam gehen kommen sehen sagen machen finden denken bleiben liegen stehen heute morgen"
).split()


def _text(seed, words=300):
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def _shared_bands(a, b):
    return sum(x == y for x, y in zip(band_hashes(a), band_hashes(b)))


def test_fourteen_signed_64_bit_integers():
    hashes = band_hashes(_text(1))
    assert len(hashes) == NUM_BANDS
    assert all(isinstance(value, int) and -(2**63) <= value < 2**63 for value in hashes)


def test_near_duplicates_share_a_band():
    words = _text(1).split()
    edited = words[:100] + ["Flugzeug"] + words[101:200] + ["Insel"] + words[201:]
    assert _shared_bands(" ".join(words), " ".join(edited)) >= 1


def test_case_punctuation_and_spacing_do_not_matter():
    text = _text(2)
    noisy = text.upper().replace(" ", ",  ", 20)
    assert band_hashes(text) == band_hashes(noisy)


def test_unrelated_texts_share_no_band():
    assert _shared_bands(_text(1), _text(2)) == 0
    assert _shared_bands(_text(3), "Ein ganz anderer, kurzer Text über etwas anderes.") == 0


def test_short_texts_are_one_shingle():
    assert band_hashes("Hallo, Welt!") == band_hashes("hallo welt")
    assert _shared_bands("Hallo Welt", "Hallo Mond") == 0


def test_hashes_are_stable_across_calls_and_releases():
    # Stored bands are compared with new ones: if this value changes, every
    # stored band hash is stale (bump BAND_SCHEME and rehash).
    assert band_hashes("Die Stadtbibliothek öffnet ab dem kommenden Montag wieder.")[:3] == PINNED
    assert band_hashes(_text(4)) == band_hashes(_text(4))


PINNED = [-6345159515746302490, -6202502305483387628, 2735256748917160522]


def test_a_batch_gives_each_text_its_own_bands():
    texts = [_text(1), "", "Hallo Welt", _text(2)]
    assert band_hashes_batch([split(text) for text in texts]) == [band_hashes(text) for text in texts]


def test_pairs_at_jaccard_090_share_a_band_and_unrelated_texts_do_not():
    for seed in range(20):
        words = _text(seed, words=400).split()
        edited = list(words)
        for index in range(7, len(words), 120):  # one word in 120: Jaccard of the 5-gram sets ≥ 0.9
            edited[index] = "Zeppelin"
        a, b = (set(ngram_keys(split(" ".join(w)).folded, 5).tolist()) for w in (words, edited))
        assert len(a & b) / len(a | b) >= 0.9
        assert _shared_bands(" ".join(words), " ".join(edited)) >= 1
        assert _shared_bands(" ".join(words), _text(seed + 100, words=400)) == 0


def test_case_folding_makes_sharp_s_meet_its_capitals():
    assert band_hashes("Die Straße ist groß und schön") == band_hashes("DIE STRASSE IST GROSS UND SCHÖN")
