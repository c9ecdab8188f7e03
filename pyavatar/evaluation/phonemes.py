"""Phoneme → viseme class and jaw-opening targets (IPA, as espeak-ng reports it).

Vowels map to the five VRM visemes by lip shape and openness: open vowels to
``aa``; close front spread vowels to ``ih``; close rounded vowels (front and
back) to ``ou``; mid front and central vowels (schwa included) to ``ee``;
mid rounded vowels (front and back) to ``oh``. Every consonant is ``cons``
with a jaw target by place of articulation (lips closed for bilabials).
Diphthongs and r-/l-coloured vowels split into their parts (60 % / 40 % of
the duration). Length marks, nasalisation and other diacritics are ignored.
The table covers every phoneme espeak-ng emits for English (US/GB), German,
Spanish and French; anything else raises :class:`KeyError`.

| viseme | vowels (jaw target)                                                      |
|--------|--------------------------------------------------------------------------|
| aa     | a 0.85, ɑ 0.85, ä 0.85, æ 0.75, ɐ 0.6, ʌ 0.6, ɒ 0.7                       |
| ih     | i 0.2, ɪ 0.3, ɨ 0.25, ᵻ 0.3                                               |
| ou     | u 0.2, ʊ 0.3, ɯ 0.2, y 0.2, ʏ 0.25, ᵿ 0.3                                 |
| ee     | e 0.45, ɛ 0.55, ə 0.4, ɜ 0.45, ɚ 0.4, ɘ 0.4                               |
| oh     | o 0.5, ɔ 0.6, ø 0.45, œ 0.55, ɤ 0.5                                       |
| cons   | p b m β 0.0; f v w ʍ 0.1; θ ð ɹ r ɾ l ɫ ʋ 0.2; t d n s z ts dz ʃ ʒ tʃ dʒ ɕ ʑ 0.2; |
|        | k ɡ g ŋ ç x ɣ j ʝ ɲ ʎ ʁ χ ʀ c ɟ 0.25; h ɦ ʔ 0.3                             |
| sil    | pause 0.0                                                                 |
"""

from __future__ import annotations

import unicodedata

VOWELS: dict[str, tuple[str, float]] = {
    "a": ("aa", 0.85),
    "ɑ": ("aa", 0.85),
    "ä": ("aa", 0.85),
    "æ": ("aa", 0.75),
    "ɐ": ("aa", 0.6),
    "ʌ": ("aa", 0.6),
    "ɒ": ("aa", 0.7),
    "i": ("ih", 0.2),
    "ɪ": ("ih", 0.3),
    "ɨ": ("ih", 0.25),
    "ᵻ": ("ih", 0.3),
    "u": ("ou", 0.2),
    "ʊ": ("ou", 0.3),
    "ɯ": ("ou", 0.2),
    "y": ("ou", 0.2),
    "ʏ": ("ou", 0.25),
    "ᵿ": ("ou", 0.3),
    "e": ("ee", 0.45),
    "ɛ": ("ee", 0.55),
    "ə": ("ee", 0.4),
    "ɜ": ("ee", 0.45),
    "ɚ": ("ee", 0.4),
    "ɘ": ("ee", 0.4),
    "o": ("oh", 0.5),
    "ɔ": ("oh", 0.6),
    "ø": ("oh", 0.45),
    "œ": ("oh", 0.55),
    "ɤ": ("oh", 0.5),
}

CONSONANTS: dict[str, float] = {
    **dict.fromkeys(["p", "b", "m", "β"], 0.0),
    **dict.fromkeys(["f", "v", "w", "ʍ"], 0.1),
    **dict.fromkeys(["θ", "ð", "ɹ", "r", "ɾ", "l", "ɫ", "ʋ"], 0.2),
    **dict.fromkeys(["t", "d", "n", "s", "z", "ts", "dz", "ʃ", "ʒ", "tʃ", "dʒ", "ɕ", "ʑ"], 0.2),
    **dict.fromkeys(["k", "ɡ", "g", "ŋ", "ç", "x", "ɣ", "j", "ʝ", "ɲ", "ʎ", "ʁ", "χ", "ʀ", "c", "ɟ"], 0.25),
    **dict.fromkeys(["h", "ɦ", "ʔ"], 0.3),
}
#: Stops and affricates: their closure is silent, so a preceding vowel ends where the energy drops.
STOPS = frozenset(["p", "b", "t", "d", "k", "ɡ", "g", "ts", "dz", "tʃ", "dʒ", "c", "ɟ", "ʔ"])
VOWEL_VISEMES = ("aa", "ih", "ou", "ee", "oh")
LABELS = (*VOWEL_VISEMES, "cons", "sil")
_IGNORED = {"ː", "ˑ", "ˈ", "ˌ", "-", "ʲ", "ʰ", "ʷ", "ˠ"}


def _clean(name: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFD", name) if ch not in _IGNORED and not unicodedata.combining(ch)
    )


def expand(name: str) -> list[tuple[str, float, float]]:
    """Parts of one espeak phoneme: ``[(label, jaw, share of the duration), ...]``.

    ``''`` (a pause) is silence. Raises :class:`KeyError` for a phoneme outside the table.
    """
    if not name:
        return [("sil", 0.0, 1.0)]
    s = _clean(name)
    if s in CONSONANTS:
        return [("cons", CONSONANTS[s], 1.0)]
    parts: list[tuple[str, float]] = []
    i = 0
    while i < len(s):
        two = s[i : i + 2]
        if two in CONSONANTS:
            parts.append(("cons", CONSONANTS[two]))
            i += 2
        elif s[i] in VOWELS:
            parts.append(VOWELS[s[i]])
            i += 1
        elif s[i] in CONSONANTS:
            parts.append(("cons", CONSONANTS[s[i]]))
            i += 1
        else:
            raise KeyError(f"phoneme {name!r}: symbol {s[i]!r} is not in the viseme table")
    if len(parts) == 1:
        return [(parts[0][0], parts[0][1], 1.0)]
    shares = [0.6] + [0.4 / (len(parts) - 1)] * (len(parts) - 1)
    return [(lab, jaw, sh) for (lab, jaw), sh in zip(parts, shares)]


def is_stop(name: str) -> bool:
    """True for a stop or affricate (a silent closure before its release)."""
    return _clean(name) in STOPS


def is_vowel(name: str) -> bool:
    """True when the phoneme starts with a vowel."""
    return bool(name) and expand(name)[0][0] in VOWEL_VISEMES
