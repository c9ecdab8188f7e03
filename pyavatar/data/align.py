"""Forced alignment of a recording to its transcript.

espeak-ng speaks the transcript in the recording's language; its phones (IPA)
are the sequence to place. Two methods place them on the recording:

``phones`` (the default): a phone-class model (:mod:`pyavatar.data.phone_model`,
shipped in the package) scores every 100 Hz frame of the recording, and a forced
Viterbi pass (:mod:`pyavatar.data.viterbi`) finds the best segmentation: each
phone at least :data:`MIN_PHONE_FRAMES` frames, optional pauses between phones
(entering one costs :data:`PAUSE_PENALTY`), stop closures allowed to be silent.
The ``cost`` is the mean negative log posterior along that path.

``dtw`` (the earlier method): MFCC DTW against a rate-matched rendering.

1. The rendering is re-spoken at the rate that makes its speech span (first to
   last phone) as long as the recording's (energy above the noise floor).
2. Both are analysed into 100 Hz MFCCs (c1-c12 plus deltas, mean-normalised per
   file); DTW with steps (1,0), (1,1), (1,2) (0 to 2 rendering frames per recording
   frame) maps each recording frame to a rendering frame. Pauses inside the
   rendering (espeak pauses at punctuation) are cut to their first
   ``PAUSE_KEEP_FRAMES`` frames first: a speaker who does not pause there would
   otherwise get at least half the rendered pause labelled as silence over speech,
   while a real pause still maps onto the kept frames (DTW may stay on a frame).
   A gap left between aligned phones whose recording level stays within
   ``PAUSE_LOUD_DB`` of the speech's median level is no pause (the speaker
   lengthened a sound instead): the phone before it is extended over it.
3. Each rendering phone boundary maps to the first recording frame that reaches it,
   then :func:`pyavatar.evaluation.synthetic.refine_boundaries` snaps stop closures
   and pause edges to the recording's energy steps. Its ``cost`` is the mean
   distance along the DTW path (per frame, in units of the normalised features).

Outlier clips (high ``cost`` within a run) are the ones importers drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pyavatar.audio.analyzer import analyze
from pyavatar.audio.features import HOP, SAMPLE_RATE
from pyavatar.data import phone_model
from pyavatar.data.phone_model import PhoneModel
from pyavatar.data.viterbi import forced_path
from pyavatar.evaluation.espeak import Espeak, Phone
from pyavatar.evaluation.synthetic import BoundaryStats, refine_boundaries
from pyavatar.packets import AudioChunk

#: espeak-ng voice per transcript language.
VOICE_OF = {"en": "en-us", "es": "es", "fr": "fr", "de": "de"}
_BASE_WPM = 165
#: Frames (10 ms) of each pause inside the rendering kept for the DTW.
PAUSE_KEEP_FRAMES = 3
#: A gap whose median 10 ms level is at most this far below the speech's median level is speech.
PAUSE_LOUD_DB = 20.0
#: Alignment methods (see the module docstring).
METHODS = ("phones", "dtw")
#: Shortest phone of the ``phones`` method, in 10 ms frames.
MIN_PHONE_FRAMES = 3
#: Log-score cost of a pause between two phones (``phones`` method).
PAUSE_PENALTY = 4.0
#: Log-score cost per frame of labelling a speech-level frame (see :data:`PAUSE_LOUD_DB`) as a pause.
LOUD_PAUSE_COST = 8.0


@dataclass(frozen=True)
class Alignment:
    """IPA phones on the recording's timeline and the DTW cost."""

    phones: list[Phone]
    cost: float
    wpm: int | None  # the rendering's rate (``dtw``); None for ``phones``


def features(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 24) normalised MFCC + delta rows and (T,) frame level in dB at 100 Hz."""
    f = analyze([AudioChunk(0, sample_rate, samples.astype(np.float32))], sample_rate)
    m = f.mfcc[:, 1:13].astype(np.float64)
    m = m - m.mean(axis=0)
    d = np.gradient(m, axis=0) * 2
    x = np.concatenate([m, d], axis=1)
    x /= x.std(axis=0) + 1e-6
    return x, 20 * np.log10(f.rms.astype(np.float64) + 1e-9)


def speech_span(level_db: np.ndarray) -> tuple[int, int]:
    """First and last 100 Hz frame within 35 dB of the loudest (the speech, not the padding)."""
    on = np.flatnonzero(level_db > max(level_db.max(initial=-200) - 35, np.percentile(level_db, 10) + 10))
    return (int(on[0]), int(on[-1]) + 1) if len(on) else (0, len(level_db))


def dtw(cost: np.ndarray) -> tuple[np.ndarray, float]:
    """For each row (recording frame) the matched column (rendering frame), and the mean path cost.

    Steps (1,0), (1,1), (1,2): every row is matched once; both ends are anchored.
    """
    n, m = cost.shape
    acc = np.full((n, m), np.inf)
    back = np.zeros((n, m), dtype=np.int8)
    acc[0, 0] = cost[0, 0]
    for i in range(1, n):
        prev = acc[i - 1]
        cands = np.stack([prev, np.concatenate([[np.inf], prev[:-1]]), np.concatenate([[np.inf, np.inf], prev[:-2]])])
        k = cands.argmin(axis=0)
        acc[i] = cost[i] + cands[k, np.arange(m)]
        back[i] = k
    path = np.zeros(n, dtype=np.int64)
    j = m - 1
    for i in range(n - 1, -1, -1):
        path[i] = j
        j -= int(back[i, j])
    return path, float(acc[-1, -1] / n)


def _render(text: str, voice: str, wpm: int) -> tuple[np.ndarray, int, list[Phone]]:
    utt = Espeak().synthesize(text, voice, wpm=wpm)
    # espeak marks a switch of language inside the text with a "(en)"-style pseudo phoneme: not a sound
    phones = [p for p in utt.phones if not p.name.startswith("(")]
    phones = refine_boundaries(phones, utt.samples, utt.sample_rate, BoundaryStats())
    return utt.samples, utt.sample_rate, phones


def kept_frames(phones: list[Phone], first: int, last: int) -> np.ndarray:
    """Rendering frames ``first..last-1`` without those past the first :data:`PAUSE_KEEP_FRAMES` of each pause.

    A pause is an unnamed phone or a gap between named phones.
    """
    keep = np.ones(last - first, dtype=bool)
    named = [p for p in phones if p.name]
    for p, q in zip(named, named[1:]):
        a = int(np.ceil(p.end * 100)) + PAUSE_KEEP_FRAMES
        b = int(np.floor(q.start * 100))
        keep[max(a, first) - first : max(min(b, last), first) - first] = False
    return first + np.flatnonzero(keep)


def close_loud_gaps(phones: list[Phone], level_db: np.ndarray) -> list[Phone]:
    """``phones`` with each gap at speech level (see :data:`PAUSE_LOUD_DB`) given to the phone before it."""
    frames = [np.arange(int(p.start * 100), int(np.ceil(p.end * 100))) for p in phones]
    inside = np.concatenate(frames) if frames else np.zeros(0, dtype=int)
    inside = inside[inside < len(level_db)]
    if not len(inside):
        return list(phones)
    speech = float(np.median(level_db[inside]))
    out = list(phones[:1])
    for p in phones[1:]:
        prev = out[-1]
        gap = level_db[int(np.ceil(prev.end * 100)) : int(p.start * 100)]
        if len(gap) and float(np.median(gap)) >= speech - PAUSE_LOUD_DB:
            out[-1] = Phone(prev.name, prev.start, p.start)
        out.append(p)
    return out


def _speech_len(phones: list[Phone]) -> float:
    named = [p for p in phones if p.name]
    return named[-1].end - named[0].start if named else 0.0


def _voice(language: str) -> str:
    voice = VOICE_OF.get(language)
    if voice is None:
        raise ValueError(f"no aligner voice for language {language!r}; have {sorted(VOICE_OF)}")
    return voice


def align(
    samples: np.ndarray,
    sample_rate: int,
    text: str,
    language: str,
    *,
    method: str = "phones",
    model: PhoneModel | None = None,
) -> Alignment:
    """Phones of ``text`` (``language``: en, es, fr, de) on the timeline of ``samples`` (see :data:`METHODS`).

    ``model``: the ``phones`` method's phone model (default: the bundled one).
    """
    if method == "phones":
        return _align_phones(samples, sample_rate, text, language, model or _bundled_model())
    if method == "dtw":
        return _align_dtw(samples, sample_rate, text, language)
    raise ValueError(f"unknown alignment method {method!r}; have {list(METHODS)}")


@lru_cache(maxsize=1)
def _bundled_model() -> PhoneModel:
    return phone_model.bundled()


def _align_phones(samples: np.ndarray, sample_rate: int, text: str, language: str, model: PhoneModel) -> Alignment:
    names = [p.name for p in _render(text, _voice(language), _BASE_WPM)[2] if p.name]
    x = np.asarray(samples, dtype=np.float64)
    if sample_rate != SAMPLE_RATE:
        from pyavatar.data._signal import resample_poly

        x = resample_poly(x, SAMPLE_RATE, sample_rate)
    logp = model.log_posteriors(x)
    seq = [phone_model.phone_class(n) for n in names]
    own, _ = forced_path(
        logp - np.log(model.prior),
        seq,
        stops=phone_model.STOPS,
        min_frames=MIN_PHONE_FRAMES,
        pause_penalty=PAUSE_PENALTY,
        pause_cost=np.where(loud_frames(x, len(logp)), LOUD_PAUSE_COST, 0.0),
    )
    frame_cls = np.where(own >= 0, np.asarray(seq)[np.maximum(own, 0)], 0)
    fit = logp[np.arange(len(own)), frame_cls]
    stop = np.isin(frame_cls, list(phone_model.STOPS))
    fit[stop] = np.maximum(fit[stop], logp[stop, 0])
    out = []
    for i, name in enumerate(names):
        frames = np.flatnonzero(own == i)
        out.append(Phone(name, frames[0] / 100, (frames[-1] + 1) / 100))
    return Alignment(out, float(-fit.mean()), None)


def loud_frames(samples: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: 10 ms frames whose level is within :data:`PAUSE_LOUD_DB` of the speech's median level.

    Speech frames are those within 35 dB of the loudest (as :func:`speech_span`).
    """
    x = np.zeros(n * HOP)
    m = min(len(samples), len(x))
    x[:m] = samples[:m]
    level = 10 * np.log10((x.reshape(n, HOP) ** 2).mean(axis=1) + 1e-18)
    speech = level[level > level.max(initial=-200) - 35]
    return level >= float(np.median(speech)) - PAUSE_LOUD_DB if len(speech) else np.zeros(n, dtype=bool)


def _align_dtw(samples: np.ndarray, sample_rate: int, text: str, language: str) -> Alignment:
    voice = _voice(language)
    x, level = features(samples, sample_rate)
    a, b = speech_span(level)
    target = (b - a) / 100
    wpm = _BASE_WPM
    tts, tsr, tphones = _render(text, voice, wpm)
    span = _speech_len(tphones)
    if span > 0 and target > 0:
        wpm = int(np.clip(round(_BASE_WPM * span / target), 80, 450))
        tts, tsr, tphones = _render(text, voice, wpm)
    y, ylevel = features(tts, tsr)
    ya, yb = speech_span(ylevel)
    kept = kept_frames(tphones, ya, yb)
    xs, ys = x[a:b], y[kept]
    sq = (xs**2).sum(axis=1)[:, None] + (ys**2).sum(axis=1)[None, :] - 2 * xs @ ys.T
    c = np.sqrt(np.maximum(sq, 0.0)) / np.sqrt(x.shape[1])
    path, cost = dtw(c)
    ref_frames = path  # kept rendering frame (index into kept) of each recording frame a..b-1

    def to_rec(t: float) -> float:
        j = int(np.searchsorted(kept, t * 100, side="left"))  # first kept frame at or after t
        k = int(np.searchsorted(ref_frames, j, side="left"))
        return (a + min(k, len(ref_frames))) / 100

    out: list[Phone] = []
    for p in tphones:
        if not p.name:
            continue
        s, e = to_rec(p.start), to_rec(p.end)
        if out and s < out[-1].end:
            s = out[-1].end
        if e > s:
            out.append(Phone(p.name, s, e))
    out = close_loud_gaps(out, level)
    with_pauses: list[Phone] = []
    t = 0.0
    for p in out:
        if p.start > t:
            with_pauses.append(Phone("", t, p.start))
        with_pauses.append(p)
        t = p.end
    dur = len(samples) / sample_rate
    if t < dur:
        with_pauses.append(Phone("", t, dur))
    refined = refine_boundaries(with_pauses, samples, sample_rate, BoundaryStats())
    return Alignment([p for p in refined if p.name], cost, wpm)
