"""One matching key for every spelling, and a quote of the original for every match.

Each rule in the ``detectors.text`` docstring gets its own tests. Every test
checks the key (``normalise(s).text``) and that the offsets lead back to the
characters of the original that produced a match, because evidence quotes the
original, never the key.
"""

from __future__ import annotations

import random

import pytest

from detectors.text import normalise


def quote_of(original: str, key_fragment: str) -> str:
    """The original characters behind the first occurrence of ``key_fragment`` in the key."""
    normalised = normalise(original, with_offsets=True)
    start = normalised.text.index(key_fragment)
    return normalised.quote(start, start + len(key_fragment))


def assert_offsets_match_key(original: str) -> None:
    normalised = normalise(original, with_offsets=True)
    assert normalised.text == normalise(original).text
    assert len(normalised.offsets) == len(normalised.text)


# --- Compatibility forms (NFKC/NFKD) -------------------------------------------------


def test_fullwidth_letters_fold_to_ascii():
    assert normalise("ＴＴＰ").text == "ttp"
    assert quote_of("join ＴＴＰ now", "ttp") == "ＴＴＰ"


def test_fi_ligature_becomes_two_letters_quoting_the_ligature():
    assert normalise("ﬁdayeen").text == "fidayeen"
    normalised = normalise("ﬁdayeen", with_offsets=True)
    assert normalised.offsets[:2] == (0, 0)  # both key letters come from the one ligature
    assert normalised.quote(0, 1) == "ﬁ"
    assert normalised.quote(0, 8) == "ﬁdayeen"


def test_arabic_presentation_forms_fold_to_ordinary_letters():
    presentation = "ﻃﺎﻟﺒﺎﻥ"  # Taliban written with U+FExx presentation forms
    assert normalise(presentation).text == normalise("طالبان").text == "طالبان"
    assert quote_of(f"ya {presentation} ya", "طالبان") == presentation


def test_arabic_lam_alef_ligature_becomes_lam_and_alef():
    assert normalise("ﻻ").text == "لا"
    normalised = normalise("ﻻ", with_offsets=True)
    assert normalised.offsets == (0, 0)
    assert normalised.quote(0, 2) == "ﻻ"


# --- Case folding ----------------------------------------------------------------------


def test_upper_and_mixed_case_give_the_same_key():
    assert normalise("TEHRIK").text == normalise("Tehrik").text == normalise("tEhRiK").text == "tehrik"
    assert quote_of("Join TEHRIK now", "tehrik") == "TEHRIK"


def test_sharp_s_casefolds_to_ss_and_quotes_the_sharp_s():
    assert normalise("Straße").text == normalise("STRASSE").text == "strasse"
    normalised = normalise("Straße", with_offsets=True)
    assert normalised.quote(4, 6) == "ß"
    assert normalised.quote(4, 5) == "ß"  # half of the expansion still quotes the whole letter
    assert normalised.quote(0, 7) == "Straße"


# --- Format characters: zero-width and bidi controls ------------------------------------


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u200c", "\u200d", "\ufeff"],
    ids=["zero-width-space", "zero-width-non-joiner", "zero-width-joiner", "bom"],
)
def test_zero_width_character_inside_a_word_is_removed(invisible):
    original = f"Tali{invisible}ban"

    assert normalise(original).text == "taiiban"
    assert quote_of(f"long live {original}!", "taiiban") == original


def test_zero_width_characters_between_every_letter_are_removed():
    original = "T\u200ba\u200cl\u200di\ufeffb\u200ba\u200bn"

    assert normalise(original).text == "taiiban"
    assert quote_of(original, "taiiban") == original


BIDI_CONTROLS = ["\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), "\u061c"]


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_bidi_control_inside_a_word_is_removed(control):
    original = f"Tal{control}iban"

    assert normalise(original).text == "taiiban"
    assert quote_of(original, "taiiban") == original


def test_bidi_controls_around_a_word_are_not_quoted():
    original = "\u202eTaliban\u202c \u2067طالبان\u2069"

    assert normalise(original).text == "taiiban طالبان"
    assert quote_of(original, "taiiban") == "Taliban"
    assert quote_of(original, "طالبان") == "طالبان"


# --- Tatweel and Arabic diacritics ---------------------------------------------------------


def test_tatweel_is_removed():
    original = "طــالبـان"

    assert normalise(original).text == "طالبان"
    assert quote_of(original, "طالبان") == original


ARABIC_MARKS = {
    "fatha": "\u064e",
    "kasra": "\u0650",
    "damma": "\u064f",
    "shadda": "\u0651",
    "sukun": "\u0652",
    "fathatan": "\u064b",
    "dammatan": "\u064c",
    "kasratan": "\u064d",
    "superscript-alef": "\u0670",
}


@pytest.mark.parametrize("mark", ARABIC_MARKS.values(), ids=ARABIC_MARKS.keys())
def test_arabic_diacritic_is_removed(mark):
    original = f"ط{mark}البان"

    assert normalise(original).text == "طالبان"
    assert quote_of(original, "طالبان") == original


def test_fully_vowelled_word_matches_the_bare_word():
    original = "جَيْشُ مُحَمَّد"

    assert normalise(original).text == normalise("جيش محمد").text == "جیش محمد"
    assert quote_of(original, "جیش محمد") == original
    assert quote_of(original, "محمد") == "مُحَمَّد"


# --- Latin accents --------------------------------------------------------------------------


@pytest.mark.parametrize("original", ["café", "cafe\u0301"], ids=["precomposed", "decomposed"])
def test_latin_accent_is_removed(original):
    assert normalise(original).text == "cafe"
    assert quote_of(f"les {original}s", "cafes") == f"{original}s"


def test_precomposed_accent_quotes_the_accented_letter():
    assert quote_of("Café noir", "cafe") == "Café"
    assert quote_of("Café noir", "e") == "é"


def test_decomposed_accent_inside_a_word_is_quoted_with_its_letter():
    original = "re\u0301sume"

    assert normalise(original).text == "resume"
    assert quote_of(original, "resume") == original


def test_quote_of_a_word_ending_in_a_decomposed_accent_keeps_the_accent():
    # Evidence must quote what was written. "cafe" + U+0301 is the same text as
    # "café", and quoting the precomposed form keeps the accent, but the offset of
    # the dropped mark is lost, so the quote stops before it and shows "cafe".
    original = "cafe\u0301 noir"

    assert normalise(original).text == "cafe noir"
    assert quote_of(original, "cafe") == "cafe\u0301"


# --- Arabic, Persian and Urdu letter variants --------------------------------------------------


@pytest.mark.parametrize("yeh", ["ي", "ی", "ى"], ids=["arabic-yeh", "farsi-yeh", "alef-maksura"])
def test_yeh_variants_fold_to_one_letter(yeh):
    original = f"تحر{yeh}ک"

    assert normalise(original).text == "تحریک"
    assert quote_of(f"و {original} و", "تحریک") == original


@pytest.mark.parametrize("kaf", ["ك", "ک"], ids=["arabic-kaf", "keheh"])
def test_kaf_variants_fold_to_one_letter(kaf):
    original = f"تحری{kaf}"

    assert normalise(original).text == "تحریک"
    assert quote_of(original, "ک") == kaf


@pytest.mark.parametrize("heh", ["ه", "ہ", "ە", "ھ"], ids=["arabic-heh", "heh-goal", "ae", "heh-doachashmee"])
def test_heh_variants_fold_to_one_letter(heh):
    original = f"الل{heh}"

    assert normalise(original).text == "الل" + "ہ"
    assert quote_of(original, "ہ") == heh


@pytest.mark.parametrize("teh_marbuta", ["ة", "ۃ"], ids=["arabic", "urdu-goal"])
def test_teh_marbuta_variants_fold_to_heh(teh_marbuta):
    original = f"جماع{teh_marbuta}"

    assert normalise(original).text == "جماعہ"
    assert quote_of(original, "جماعہ") == original


@pytest.mark.parametrize("alef", ["أ", "إ", "آ", "ا"], ids=["hamza-above", "hamza-below", "madda", "bare"])
def test_hamza_carrying_alefs_fold_to_bare_alef(alef):
    original = f"{alef}میر"

    assert normalise(original).text == "امیر"
    assert quote_of(original, "ا") == alef


# --- Digits -----------------------------------------------------------------------------------


def test_arabic_indic_digits_become_ascii():
    original = "٠١٢٣٤٥٦٧٨٩"

    assert normalise(original).text == "0123456789"
    assert quote_of(f"سنة {original}", "345") == "٣٤٥"


def test_eastern_arabic_indic_digits_become_ascii():
    original = "۰۱۲۳۴۵۶۷۸۹"

    assert normalise(original).text == "0123456789"
    assert quote_of(f"سال {original}", "789") == "۷۸۹"


def test_year_in_arabic_indic_and_ascii_digits_gives_one_key():
    assert normalise("٢٠٢٦").text == normalise("۲۰۲۶").text == normalise("2026").text == "2026"
    assert quote_of("عام ٢٠٢٦", "2026") == "٢٠٢٦"


# --- Homoglyphs --------------------------------------------------------------------------------


def test_cyrillic_capital_te_in_a_latin_word_is_a_latin_t():
    original = "Тaliban"  # U+0422 CYRILLIC CAPITAL LETTER TE
    assert original[0] != "T"

    assert normalise(original).text == normalise("Taliban").text == "taiiban"
    assert quote_of(f"for {original}", "taiiban") == original


def test_word_of_mixed_cyrillic_look_alikes_is_latin():
    original = "Таlibаn"  # Cyrillic Т and both а

    assert normalise(original).text == "taiiban"
    assert quote_of(original, "t") == "Т"


def test_greek_capitals_casefold_then_become_latin_look_alikes():
    original = "ΤΤΡ"  # GREEK TAU TAU RHO, folding to τ τ ρ

    assert normalise(original).text == "ttp"
    assert quote_of(f"join {original} now", "ttp") == original


def test_greek_capitals_fold_to_the_latin_capital_they_imitate():
    # The docstring promises "the Latin letter they imitate". Greek capitals
    # Η, Μ, Ν look like H, M, N, but folding happens first and the table maps
    # their lower case forms η, μ, ν to n, u, v, so "ΗΑΜΑS" becomes "nauas".
    original = "ΗΑΜΑS"

    assert normalise(original).text == "hamas"
    assert quote_of(original, "hamas") == original


# --- l / i merge -----------------------------------------------------------------------------


def test_l_and_i_give_the_same_key():
    assert normalise("Taliban").text == normalise("Taiiban").text == normalise("TaIiban").text == "taiiban"
    assert quote_of("Mullah Omar", "muiiah") == "Mullah"
    assert quote_of("Mullah Omar", "ii") == "ll"


# --- Separators --------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["T.T.P", "T-T-P", "t t p", "T_T_P", "T . T . P", "T·T·P", "TTP"])
def test_separated_single_letters_join_into_one_word(spelling):
    original = f"Join {spelling} now"

    assert normalise(original).text == "join ttp now"
    assert quote_of(original, "ttp") == spelling


def test_two_single_letters_are_not_joined():
    # Only runs of three or more are joined: "a b" is too common to be an alias.
    assert normalise("plan a b").text == "pian a b"
    assert quote_of("plan a-b", "a b") == "a-b"


def test_hyphenated_and_spaced_names_give_the_same_key():
    hyphenated = "Tehrik-e-Taliban"
    spaced = "Tehrik e Taliban"

    assert normalise(hyphenated).text == normalise(spaced).text == "tehrik e taiiban"
    assert quote_of(hyphenated, "tehrik e taiiban") == hyphenated
    assert quote_of(hyphenated, "taiiban") == "Taliban"
    assert quote_of(hyphenated, "e") == "e"


# --- Leetspeak -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original, key",
    [
        ("T4l1b4n", "taiiban"),
        ("j@ish", "jaish"),
        ("$ipah", "sipah"),
        ("b0mb", "bomb"),
        ("f1ght", "fight"),
        ("h3ro", "hero"),
        ("w4r", "war"),
        ("5ect", "sect"),
        ("7error", "terror"),
    ],
)
def test_leetspeak_inside_a_word_becomes_letters(original, key):
    assert normalise(original).text == key
    assert quote_of(f"the {original}!", key) == original


@pytest.mark.parametrize("number", ["2026", "10 5", "0", "1337 007"])
def test_pure_numbers_are_not_leetspeak(number):
    assert normalise(number).text == number
    assert quote_of(f"in {number} days", number) == number


@pytest.mark.parametrize("symbol", ["@", "$"])
def test_standalone_at_and_dollar_are_separators(symbol):
    original = f"meet {symbol} noon"

    assert normalise(symbol).text == ""
    assert normalise(symbol, with_offsets=True).offsets == ()
    assert normalise(original).text == "meet noon"
    assert quote_of(original, "noon") == "noon"


def test_dollar_before_a_number_is_a_separator():
    assert normalise("pay $100").text == "pay 100"
    assert quote_of("pay $100", "100") == "100"


def test_spaced_out_leetspeak_is_resolved_like_the_joined_word():
    # Stage 4 joins "t 4 i 1 b 4 n" after stage 2 has looked for leetspeak, and
    # then each of "4", "1" was a word with no letter, so the joined key keeps
    # the digits and does not match the alias "Taliban".
    original = "T.4.L.1.B.4.N"

    assert normalise(original).text == normalise("Taliban").text == "taiiban"
    assert quote_of(original, "taiiban") == original


# --- Whitespace --------------------------------------------------------------------------------


def test_runs_of_whitespace_and_newlines_become_one_space():
    original = "hello\n\n  big\t\t\r\nworld\u00a0\u3000again"

    assert normalise(original).text == "heiio big worid again"
    assert quote_of(original, "big") == "big"
    assert quote_of(original, "big worid") == "big\t\t\r\nworld"


def test_leading_and_trailing_whitespace_is_trimmed():
    original = " \n\t hello world \t\n "

    assert normalise(original).text == "heiio worid"
    normalised = normalise(original, with_offsets=True)
    assert normalised.quote(0, len(normalised.text)) == "hello world"


def test_empty_string_gives_empty_key_and_offsets():
    normalised = normalise("", with_offsets=True)

    assert normalise("").text == ""
    assert (normalised.text, normalised.offsets) == ("", ())


@pytest.mark.parametrize(
    "original",
    ["\u200b\u200e\ufeff", "\u0640\u064e\u0651", "   \n\t ", " .-_. ", "@ $", "\u202e\u200d \u2066"],
    ids=["format", "tatweel-and-marks", "whitespace", "punctuation", "lone-symbols", "mixed"],
)
def test_all_ignorable_string_gives_empty_key_and_offsets(original):
    normalised = normalise(original, with_offsets=True)

    assert normalise(original).text == ""
    assert (normalised.text, normalised.offsets) == ("", ())


# --- Properties over random text -----------------------------------------------------------------

RANDOM_ALPHABET = (
    "abcdeilnopstzABCILPTXZ"  # Latin, with l/I/i
    "0123456789"
    ".-_,!?@$#'\"/·()"
    "ابتطلنيىیكکهہەھةۃأإآؤئ"  # Arabic letters and their variants
    "\u064e\u0650\u064f\u0651\u0652\u064b\u064c\u064d\u0670\u0640"  # diacritics, tatweel
    "٠١٤٥۰۱۴۵"
    "\u200b\u200c\u200d\ufeff\u200e\u200f\u202a\u202e\u2066\u2069\u061c"  # zero-width, bidi
    "аеорсТНΤΡΗ"  # Cyrillic and Greek
    " \t\n\u00a0"
)


def random_texts(count: int = 3000, seed: int = 20240601) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(RANDOM_ALPHABET) for _ in range(rng.randint(0, 24))) for _ in range(count)]


def test_offsets_of_random_text_are_consistent_with_the_key():
    for original in random_texts():
        key = normalise(original).text
        normalised = normalise(original, with_offsets=True)

        assert normalised.text == key, original
        assert len(normalised.offsets) == len(key), original
        assert all(0 <= offset < len(original) for offset in normalised.offsets), original
        assert list(normalised.offsets) == sorted(normalised.offsets), original


def test_normalising_a_key_again_changes_nothing():
    # Aliases in config are normalised with the same function as posts, so a key
    # must be a fixed point. Every counterexample found (in 200,000 random
    # strings from this alphabet, and every code point on its own) has one cause:
    # stage 4 joins single characters after stage 2 has resolved leetspeak, so
    # "a 1 b" gives "a1b", a word with a letter whose "1" is resolved only on the
    # second pass ("aib"). That is the bug in
    # test_spaced_out_leetspeak_is_resolved_like_the_joined_word, not a property
    # that should fail, so it is asserted for every input.
    not_fixed = []
    for original in random_texts():
        key = normalise(original).text
        again = normalise(key).text
        if again != key:
            not_fixed.append((original, key, again))

    shortest = sorted(not_fixed, key=lambda case: len(case[1]))[:3]
    assert not not_fixed, f"{len(not_fixed)} keys change when normalised again, e.g. {shortest!r}"
