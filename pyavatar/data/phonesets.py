"""Phone sets of the synthesizers, mapped to the IPA of :mod:`pyavatar.evaluation.phonemes`.

Every phone becomes an IPA string that :func:`pyavatar.evaluation.phonemes.expand`
turns into viseme classes and jaw targets, so one viseme table serves all
engines. ``''`` is silence.

- ``ipa`` (espeak-ng): already IPA; the viseme table covers English, German,
  Spanish and French.
- ``cmu`` (flite's US English voices, ``flite -psdur``):

  | phone | IPA | phone | IPA | phone | IPA | phone | IPA |
  |-------|-----|-------|-----|-------|-----|-------|-----|
  | aa | ɑ | ae | æ | ah | ʌ | ao | ɔ |
  | aw | aʊ | ax | ə | ay | aɪ | eh | ɛ |
  | er | ɚ | ey | eɪ | ih | ɪ | iy | i |
  | ow | oʊ | oy | ɔɪ | uh | ʊ | uw | u |
  | b | b | ch | tʃ | d | d | dh | ð |
  | f | f | g | ɡ | hh | h | jh | dʒ |
  | k | k | l | l | m | m | n | n |
  | ng | ŋ | p | p | r | ɹ | s | s |
  | sh | ʃ | t | t | th | θ | v | v |
  | w | w | y | j | z | z | zh | ʒ |
  | pau | (silence) | | | | | | |

- ``radio`` (Festival's ``kal_diphone``): the ``cmu`` table plus
  ``axr`` ɚ, ``dx`` ɾ, ``el`` əl, ``em`` əm, ``en`` ən, ``nx`` n, ``h#`` and
  ``brth`` (silence).
"""

from __future__ import annotations

from pyavatar.evaluation.phonemes import expand

CMU: dict[str, str] = {
    "aa": "ɑ",
    "ae": "æ",
    "ah": "ʌ",
    "ao": "ɔ",
    "aw": "aʊ",
    "ax": "ə",
    "ay": "aɪ",
    "eh": "ɛ",
    "er": "ɚ",
    "ey": "eɪ",
    "ih": "ɪ",
    "iy": "i",
    "ow": "oʊ",
    "oy": "ɔɪ",
    "uh": "ʊ",
    "uw": "u",
    "b": "b",
    "ch": "tʃ",
    "d": "d",
    "dh": "ð",
    "f": "f",
    "g": "ɡ",
    "hh": "h",
    "jh": "dʒ",
    "k": "k",
    "l": "l",
    "m": "m",
    "n": "n",
    "ng": "ŋ",
    "p": "p",
    "r": "ɹ",
    "s": "s",
    "sh": "ʃ",
    "t": "t",
    "th": "θ",
    "v": "v",
    "w": "w",
    "y": "j",
    "z": "z",
    "zh": "ʒ",
    "pau": "",
}
RADIO: dict[str, str] = {
    **CMU,
    "axr": "ɚ",
    "dx": "ɾ",
    "el": "əl",
    "em": "əm",
    "en": "ən",
    "nx": "n",
    "h#": "",
    "brth": "",
}
PHONE_SETS = {"cmu": CMU, "radio": RADIO}


class UnmappedPhone(KeyError):
    """A synthesizer produced a phone outside its phone set's table."""


def to_ipa(phone_set: str, name: str) -> str:
    """IPA (``''`` for silence) of ``name`` in ``phone_set`` (``ipa``, ``cmu`` or ``radio``).

    Raises :class:`UnmappedPhone` naming the phone set and the phone when it has no entry
    (or, for ``ipa``, when the viseme table lacks one of its symbols).
    """
    if phone_set == "ipa":
        try:
            expand(name)
        except KeyError as e:
            raise UnmappedPhone(f"ipa: {e.args[0]}") from None
        return name
    table = PHONE_SETS.get(phone_set)
    if table is None:
        raise ValueError(f"unknown phone set {phone_set!r}; have ipa, {', '.join(PHONE_SETS)}")
    key = name.lower().rstrip("012")
    if key not in table:
        raise UnmappedPhone(f"{phone_set}: phone {name!r} has no entry in the table")
    return table[key]
