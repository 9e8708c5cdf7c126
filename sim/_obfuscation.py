"""Disguises of a designated group's name in violating posts, each one detectors/text.py undoes.

A violating post names its group in plain letters or, in ``obfuscated_share``
of posts, disguised: an acronym dotted, hyphenated or spaced out
(``T.T.P``); a Latin-script name in leetspeak or Cyrillic look-alikes; an
Arabic-script name with tatweel, diacritics or Arabic letter forms; any of
them with a zero-width character inside. :func:`methods_for` says which
disguises fit a name, :func:`obfuscate` applies one. The tables below are
the disguises themselves: each entry is a substitution the normaliser in
detectors/text.py must reverse.
"""

from __future__ import annotations

import random
from collections.abc import Callable

ZERO_WIDTH_SPACE = "\u200b"
ZERO_WIDTH_NON_JOINER = "\u200c"
TATWEEL = "\u0640"
ARABIC_DIACRITICS = ("\u064e", "\u0650", "\u064f")  # fatha, kasra, damma
CYRILLIC_LOOKALIKES = {"a": "а", "e": "е", "o": "о", "A": "А", "E": "Е", "O": "О", "p": "р", "c": "с"}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0"}
URDU_TO_ARABIC_LETTERS = {"ی": "ي", "ک": "ك", "ہ": "ه"}
# Letters that do not join the next one: a tatweel after them would not be written.
NON_JOINING = frozenset("اآأإدڈذرڑزژوؤےۓ")
LATIN_NAME_OBFUSCATIONS = ("zero_width", "leetspeak", "homoglyph")
ACRONYM_OBFUSCATIONS = ("dotted", "hyphenated", "spaced", "zero_width")
ARABIC_OBFUSCATIONS = ("zero_width", "tatweel", "arabic_letters", "diacritics")


def methods_for(name: str, is_acronym: bool, language: str) -> tuple[str, ...]:
    """The disguises that fit ``name``, written in ``language``."""
    if is_acronym and not name.isalpha():
        # "ISIL-K" spelled out as "I.S.I.L.-.K" is no longer the acronym, to anyone.
        return ("zero_width",)
    if is_acronym:
        return ACRONYM_OBFUSCATIONS
    return ARABIC_OBFUSCATIONS if language in ("ur", "ps") else LATIN_NAME_OBFUSCATIONS


def obfuscate(name: str, method: str, rng: random.Random) -> str:
    """``name`` disguised by ``method``; each disguise is one detectors/text.py undoes."""
    if method in ("dotted", "hyphenated", "spaced"):
        return {"dotted": ".", "hyphenated": "-", "spaced": " "}[method].join(name)
    if method == "leetspeak":
        # Only inside longer words, first letter kept: a lone "3" is a number, not a letter.
        return _per_word(
            name, lambda word: word[0] + "".join(LEET.get(c, c) for c in word[1:]) if len(word) >= 4 else word
        )
    if method == "homoglyph":
        return "".join(CYRILLIC_LOOKALIKES.get(character, character) for character in name)
    if method == "arabic_letters":
        changed = "".join(URDU_TO_ARABIC_LETTERS.get(character, character) for character in name)
        return changed if changed != name else obfuscate(name, "tatweel", rng)
    if method == "diacritics":
        letters = [index for index, character in enumerate(name) if character.isalpha()]
        chosen = sorted(rng.sample(letters, min(3, len(letters))), reverse=True)
        for index in chosen:
            name = name[: index + 1] + rng.choice(ARABIC_DIACRITICS) + name[index + 1 :]
        return name
    if method == "tatweel":
        spots = [
            index
            for index in range(len(name) - 1)
            if name[index].isalpha() and name[index + 1].isalpha() and name[index] not in NON_JOINING
        ]
        if not spots:
            return obfuscate(name, "zero_width", rng)
        index = rng.choice(spots)
        return name[: index + 1] + TATWEEL * rng.randint(1, 3) + name[index + 1 :]
    if method == "zero_width":
        spots = [index for index in range(1, len(name)) if name[index - 1].isalpha() and name[index].isalpha()]
        if not spots:
            return name
        index = rng.choice(spots)
        invisible = ZERO_WIDTH_NON_JOINER if _is_arabic(name) and rng.random() < 0.5 else ZERO_WIDTH_SPACE
        return name[:index] + invisible + name[index:]
    raise ValueError(f"{method!r} is not an obfuscation")


def _per_word(text: str, change: Callable[[str], str]) -> str:
    words, word = [], ""
    for character in text:
        if character.isalpha():
            word += character
        else:
            words.extend([change(word), character] if word else [character])
            word = ""
    if word:
        words.append(change(word))
    return "".join(words)


def _is_arabic(text: str) -> bool:
    return any("\u0600" <= character <= "\u06ff" for character in text)
