"""``pyavatar calibrate``: record one prompt per vowel and write a speaker's vowel profile."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyavatar.packets import FeatureChunk

PROMPTS = {
    "aa": "'aaa' as in 'father'",
    "ih": "'eee' as in 'see'",
    "ou": "'ooo' as in 'food'",
    "ee": "'eh' as in 'bed'",
    "oh": "'ooh' as in 'more' (rounded o)",
}


def _record(device: str | None, seconds: float, pause: float, vowel: str) -> FeatureChunk:
    from pyavatar.audio.analyzer import SpeechAnalyzer
    from pyavatar.audio.features import concat_features
    from pyavatar.audio.mic import MicSource

    print(f"[{vowel}] hold {PROMPTS[vowel]} for {seconds:.1f} s ...", flush=True)
    time.sleep(pause)
    print("  recording", flush=True)
    src = MicSource(device)
    analyzer = SpeechAnalyzer(src.sample_rate)
    parts = []
    try:
        for chunk in src:
            parts.append(analyzer.process(chunk))
            if src.stats.samples >= seconds * src.sample_rate:
                break
    finally:
        src.close()
    parts.append(analyzer.flush())
    return concat_features([p for p in parts if p is not None])


def _from_file(path: str) -> FeatureChunk:
    from pyavatar.audio.analyzer import analyze
    from pyavatar.audio.sources import FileSource

    src = FileSource(path)
    return analyze(src, src.sample_rate)


def _run(args: argparse.Namespace) -> int:
    from pyavatar.cli.errors import UsageError
    from pyavatar.motion.lips.profile import calibrate
    from pyavatar.packets import VRM_VISEMES

    if args.mic:
        device = None if args.device is None else args.device
        recordings = {v: _record(device, args.seconds, args.pause, v) for v in VRM_VISEMES}
    else:
        files = dict(item.split("=", 1) for item in args.files or [])
        missing = [v for v in VRM_VISEMES if v not in files]
        if missing:
            raise UsageError(f"--files needs VOWEL=PATH for {', '.join(missing)} (vowels: {', '.join(VRM_VISEMES)})")
        recordings = {v: _from_file(files[v]) for v in VRM_VISEMES}
    profile = calibrate(recordings)
    profile.save(args.out)
    print(f"wrote {args.out}: voiced frames per vowel {profile.meta['frames']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command and its options to ``sub``."""
    p = sub.add_parser(
        "calibrate",
        help="record each vowel once and write a per-voice lip-sync profile",
        description="Record (or read) one sustained vowel per VRM viseme (aa ih ou ee oh) and write a vowel "
        "profile that the DSP lip engine uses instead of the shipped one: `pyavatar live IMAGE --profile OUT`.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mic", action="store_true", help="record from a microphone, prompting per vowel")
    src.add_argument("--files", nargs="+", metavar="VOWEL=PATH", help="one recording per vowel (aa ih ou ee oh)")
    p.add_argument("--device", help="input device index or name substring (see `pyavatar devices`)")
    p.add_argument("--seconds", type=float, default=2.0, help="recording length per vowel")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between the prompt and the recording")
    p.add_argument("--out", default="voice_profile.json", help="profile JSON to write")
    p.set_defaults(func=_run)
