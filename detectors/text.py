"""Text normalisation shared by the rule detectors: one matching key for every spelling.

People who post propaganda spell names so that filters miss them: "T.T.P",
"T-T-P", "t t p", "Tal1ban", Cyrillic "а" for Latin "a", a zero-width space
inside a word, Arabic "ي" where Urdu writes "ی". :func:`normalise` turns all
of them into one *matching key*, and the same function is applied to every
alias and cue in the config, so a pattern matches however it is written.

The key is not for reading: evidence always quotes the original text. To make
that possible :func:`normalise` can return, beside the key, the offset in the
original text of every key character; a match at ``key[i:j]`` came from
``original[offsets[i]:offsets[j - 1] + 1]``. Offsets cost a Python loop over
the text, so they are computed only when asked for (a detector asks only for
posts that matched). Both paths run the same stages and give the same key.

Stages, in order:

1. per character: Unicode compatibility normalisation (NFKD, so that accents and
   hamzas separate from their letters), case folding, then
   - drop format characters (zero-width spaces and joiners, bidi controls),
     combining marks (Arabic diacritics and Latin accents) and tatweel;
   - fold Arabic, Persian, Urdu and Pashto letter variants (ي ى ې ۍ ئ → ی,
     ك → ک, ه ة ۃ ە ۀ ۂ ھ → ہ, أ إ آ ٱ → ا, ؤ → و);
   - Arabic-Indic and Eastern Arabic-Indic digits → ASCII digits;
   - Cyrillic and Greek look-alikes → the Latin letter they imitate;
   - ``l`` → ``i``: leetspeak's "1" stands for both, so the key merges them;
   - punctuation, symbols and every kind of space → one ASCII space
     (``@`` and ``$`` survive until stage 2);
2. leetspeak inside words that contain a letter: 0→o, 1→i, 3→e, 4→a, 5→s,
   7→t, @→a, $→s (a number like "2026" is left alone); repeated after stage 4,
   whose joins can make a word of digits that stood alone ("T 4 L 1 B 4 N");
3. leftover ``@`` and ``$`` → space; runs of spaces → one; trimmed;
4. runs of three or more single characters separated by spaces are joined:
   "t t p" (from "T.T.P", "T-T-P", "T_T_P", "t t p") → "ttp".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

ARABIC_VARIANTS = {
    "ي": "ی",
    "ى": "ی",
    "ې": "ی",
    "ۍ": "ی",
    "ئ": "ی",
    "ے": "ی",
    "ك": "ک",
    "ه": "ہ",
    "ة": "ہ",
    "ۃ": "ہ",
    "ە": "ہ",
    "ۀ": "ہ",
    "ۂ": "ہ",
    "ھ": "ہ",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ؤ": "و",
}
DIGITS = {chr(0x0660 + n): str(n) for n in range(10)} | {chr(0x06F0 + n): str(n) for n in range(10)}
HOMOGLYPHS = {
    # Cyrillic (lower case: folding has already happened)
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "һ": "h",
    "ӏ": "i",
    "ь": "b",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "μ": "u",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
}
# Capitals that case folding would turn into a different-looking small letter
# (Greek Η folds to η, which looks like n): mapped before folding.
CAPITAL_HOMOGLYPHS = {
    "Α": "a",
    "Β": "b",
    "Ε": "e",
    "Ζ": "z",
    "Η": "h",
    "Ι": "i",
    "Κ": "k",
    "Μ": "m",
    "Ν": "n",
    "Ο": "o",
    "Ρ": "p",
    "Τ": "t",
    "Υ": "y",
    "Χ": "x",
    "А": "a",
    "В": "b",
    "Е": "e",
    "К": "k",
    "М": "m",
    "Н": "h",
    "О": "o",
    "Р": "p",
    "С": "c",
    "Т": "t",
    "У": "y",
    "Х": "x",
}
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
KEPT_SYMBOLS = frozenset("@$")  # leetspeak letters, resolved in stage 2
TATWEEL = "\u0640"

_LEET_WORD = re.compile(r"[\w@$]*[^\W\d_][\w@$]*")
_HAS_LEET = re.compile(r"[013457@$]")
_SYMBOLS_TO_SPACE = str.maketrans({"@": " ", "$": " "})
_SPACES = re.compile(r" {2,}")
_SINGLE_RUN = re.compile(r"(?<!\w)\w(?: \w){2,}(?!\w)")
# A pattern that starts with a literal is scanned several times faster; it
# finds every text _SINGLE_RUN could match once the text is padded with spaces.
_SINGLE_RUN_HINT = re.compile(r" \w \w \w ")


def _fold_character(character: str) -> str:
    folded = []
    # NFKD, not NFKC: compatibility forms fold as NFKC would, and accents and
    # hamzas come apart from their letters so that stripping marks removes them.
    decomposed = unicodedata.normalize("NFKD", character)
    lowered = "".join(CAPITAL_HOMOGLYPHS.get(piece) or piece.casefold() for piece in decomposed)
    for piece in unicodedata.normalize("NFKD", lowered):
        category = unicodedata.category(piece)
        if category in ("Mn", "Me", "Cf") or piece == TATWEEL:
            continue
        piece = ARABIC_VARIANTS.get(piece, piece)
        piece = DIGITS.get(piece, piece)
        piece = HOMOGLYPHS.get(piece, piece)
        if piece == "l":
            piece = "i"
        if piece in KEPT_SYMBOLS:
            folded.append(piece)
        elif category[0] in "PSZC" or piece.isspace():
            folded.append(" ")
        else:
            folded.append(piece)
    return "".join(folded)


class _FoldTable(dict):
    """A ``str.translate`` table that folds each character the first time it is seen."""

    def __missing__(self, codepoint: int) -> str:
        folded = _fold_character(chr(codepoint))
        if len(folded) != 1:
            _UNEVEN.add(chr(codepoint))
        self[codepoint] = folded
        return folded


# Characters that fold to no character or to several: offsets need the slow path
# only when a text holds one of them.
_UNEVEN: set[str] = set()


_FOLD = _FoldTable()
# Latin, Greek, Cyrillic, Arabic and their marks (below U+0800) are most of every
# post: a list indexed by code point translates them about twice as fast as the
# dict, and is used when a text has no character above it. Same result.
_LOW_FOLD = [_FOLD[code] for code in range(0x800)]
_ABOVE_LOW = re.compile("[^\x00-\u07ff]")
# Most posts are ASCII: bytes.translate over a 256-byte table folds them an
# order of magnitude faster than str.translate over a dict. Same result.
_ASCII_FOLD = bytes(ord(_fold_character(chr(code))) for code in range(128)) + bytes(range(128, 256))


@dataclass(frozen=True, slots=True)
class NormalisedText:
    original: str
    text: str
    offsets: tuple[int, ...] | None  # offsets[i] = index in original of text[i]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that produced ``text[start:end]`` (``end`` > ``start``)."""
        assert self.offsets is not None, "normalise(..., with_offsets=True) keeps offsets"
        first, last = self.offsets[start], self.offsets[end - 1] + 1
        # Marks the key dropped still belong to the last letter: "cafe\u0301" quotes whole.
        while last < len(self.original) and unicodedata.category(self.original[last]) in ("Mn", "Me"):
            last += 1
        return first, last

    def quote(self, start: int, end: int) -> str:
        first, last = self.original_span(start, end)
        return self.original[first:last]


def normalise(original: str, *, with_offsets: bool = False) -> NormalisedText:
    if original.isascii():
        text = original.encode("ascii").translate(_ASCII_FOLD).decode("ascii")
    elif _ABOVE_LOW.search(original) is None:
        text = original.translate(_LOW_FOLD)
    else:
        text = original.translate(_FOLD)
    offsets = None
    if with_offsets:
        if original.isascii() or _UNEVEN.isdisjoint(original):
            offsets = list(range(len(original)))  # every character folded to exactly one
        else:
            offsets = [index for index, character in enumerate(original) for _ in _FOLD[ord(character)]]
    if _HAS_LEET.search(text):
        text = _LEET_WORD.sub(lambda word: word.group().translate(LEET), text)  # one for one: offsets hold
    if "@" in text or "$" in text:
        text = text.translate(_SYMBOLS_TO_SPACE)  # one for one: offsets hold
    if "  " in text:
        text, offsets = _delete(text, offsets, _SPACES, lambda run: [True] + [False] * (len(run) - 1))
    if _SINGLE_RUN_HINT.search(f" {text} "):
        text, offsets = _delete(text, offsets, _SINGLE_RUN, lambda run: [character != " " for character in run])
        if _HAS_LEET.search(text):
            # Joining "T 4 L 1 B 4 N" made words of digits that were alone before.
            text = _LEET_WORD.sub(lambda word: word.group().translate(LEET), text)
    if text.startswith(" "):
        text, offsets = text[1:], offsets[1:] if offsets is not None else None
    if text.endswith(" "):
        text, offsets = text[:-1], offsets[:-1] if offsets is not None else None
    return NormalisedText(original, text, tuple(offsets) if offsets is not None else None)


@lru_cache(maxsize=1024)
def folded_with_offsets(original: str) -> NormalisedText:
    """``normalise(original, with_offsets=True)``, remembered like :func:`folded`."""
    return normalise(original, with_offsets=True)


@lru_cache(maxsize=4096)
def folded(original: str) -> str:
    """``normalise(original).text``, remembered: every rule detector folds the same
    posts of a batch, and the second one finds the key ready (one fold per post)."""
    return normalise(original).text


def _delete(text: str, offsets: list[int] | None, pattern: re.Pattern, keep) -> tuple[str, list[int] | None]:
    """Apply ``pattern``: in each match keep the characters ``keep(match)`` marks True.

    Offsets follow the kept characters.
    """
    if not pattern.search(text):
        return text, offsets
    pieces: list[str] = []
    new_offsets: list[int] | None = [] if offsets is not None else None
    position = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        pieces.append(text[position:start])
        if new_offsets is not None:
            new_offsets.extend(offsets[position:start])
        for index, kept in zip(range(start, end), keep(match.group())):
            if kept:
                pieces.append(text[index])
                if new_offsets is not None:
                    new_offsets.append(offsets[index])
        position = end
    pieces.append(text[position:])
    if new_offsets is not None:
        new_offsets.extend(offsets[position:])
    return "".join(pieces), new_offsets


def handle_key(handle: str) -> str:
    """An account handle as a platform would compare it: "@Jоhn_Doe" (Cyrillic о) -> "john_doe".

    Unlike :func:`normalise` it keeps punctuation and does not merge l and i:
    "john.doe" and "john_doe" are different accounts.
    """
    folded = []
    for character in unicodedata.normalize("NFKC", handle.strip()).casefold():
        if unicodedata.category(character) in ("Cf", "Mn"):
            continue
        folded.append(HOMOGLYPHS.get(character, character))
    return "".join(folded).lstrip("@")


_QUOTED = re.compile(
    r"[\"“”«»„]([^\"“”«»„]{3,})[\"“”«»„]"
    r"|‘([^’]{3,})’"
    r"|(?:^|(?<=[\s(]))'([^']{4,}?)'(?=[\s.,!?;:)،۔]|$)"
)


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` inside quotation marks (straight, curly, guillemets; 'single' between spaces)."""
    return [match.span(group) for match in _QUOTED.finditer(text) for group in (1, 2, 3) if match.group(group)]
