"""Lip-sync a speech file: print mouth, head and blink parameters at 25 fps.

    python samples/lipsync_file.py speech.wav [--emotion happy] [--profile my_voice.json]

Runs the same streaming processors a live microphone would use (file → 16 kHz
features → DSP lip engine), adds idle motion and an emotion, and prints one
line per video frame.
"""

from __future__ import annotations

import argparse

import numpy as np

from pyavatar.audio import FileSource, SpeechAnalyzer
from pyavatar.audio.align import FeatureAligner
from pyavatar.motion.compose import compose
from pyavatar.motion.emotion import EmotionMix
from pyavatar.motion.idle import IdleMotion
from pyavatar.motion.lips import DspLipEngine, load_profile

FPS = 25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav")
    ap.add_argument("--emotion", default="neutral")
    ap.add_argument("--profile", help="vowel profile from `pyavatar calibrate`")
    args = ap.parse_args()

    source = FileSource(args.wav)
    analyzer = SpeechAnalyzer(source.sample_rate)  # 100 Hz features
    lips = DspLipEngine(load_profile(args.profile), fps=FPS)
    prosody = FeatureAligner(FPS)  # pitch and loudness per video frame for nods and tilts
    idle = IdleMotion(FPS, seed=1)
    emotion = EmotionMix(FPS)
    emotion.set(args.emotion, 0.7)

    def show(mouth, frames) -> None:
        if mouth is None or frames is None:
            return
        energy = 20 * np.log10(frames.rms + 1e-9)
        motion = idle.generate(len(mouth), mouth.speaking, frames.f0, energy)
        face = compose(mouth, motion, emotion.generate(len(mouth)))
        for i in range(len(face)):
            t = (mouth.pts_ns / 1e9) + i / FPS
            best = int(np.argmax(mouth.visemes[i]))
            print(
                f"{t:6.2f}s jaw {face.jaw_open[i]:.2f} {['aa', 'ih', 'ou', 'ee', 'oh'][best]} "
                f"{mouth.visemes[i, best]:.2f} yaw {face.head_yaw[i]:+5.1f} blink {face.blink_left[i]:.2f} "
                f"smile {face.smile_left[i]:.2f}"
            )

    for chunk in source:
        feats = analyzer.process(chunk)
        if feats is not None:
            show(lips.process(feats), prosody.process(feats))
    tail = analyzer.flush()
    if tail is not None:
        show(lips.process(tail), prosody.process(tail))
    show(lips.flush(), prosody.flush())  # the last, partial frame


if __name__ == "__main__":
    main()
