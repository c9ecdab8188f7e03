"""``pyavatar eval``: lip-sync evaluation sets and scores."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyavatar.motion.registry import motion_source_names


def _compare(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--compare`` sources, in order."""
    return tuple(c.strip() for c in (args.compare or "").split(",") if c.strip())


def _show(lines: list[str], report: dict, json_path: str | None) -> int:
    """Print the summary lines and write the full report atomically to ``json_path`` when given."""
    from pyavatar.checkpoints import write_json

    for line in lines:
        print(line)
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(report, path)
    return 0


def _lipsync(args: argparse.Namespace) -> int:
    from pyavatar.evaluation.lipsync import evaluate, summary_lines
    from pyavatar.motion.lips.profile import load_profile

    profile = load_profile(args.profile) if args.profile else None
    report = evaluate(args.dir, args.motion, profile, args.motion_weights, _compare(args))
    report["command"] = "pyavatar eval lipsync " + " ".join(args.argv_tail)
    return _show(summary_lines(report), report, args.json)


def _speech_free(args: argparse.Namespace) -> int:
    from pyavatar.evaluation.speech_free import evaluate_speech_free, summary_lines

    report = evaluate_speech_free(args.motion, args.motion_weights, _compare(args), args.seconds, args.seed)
    return _show(summary_lines(report), report, args.json)


def _make_synthetic(args: argparse.Namespace) -> int:
    from pyavatar.evaluation.synthetic import build_synthetic

    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    summary = build_synthetic(args.out, voices, args.n, seed=args.seed, noisy_fraction=args.noisy, tempo=args.tempo)
    print(json.dumps(summary))
    return 0


def _train_profile(args: argparse.Namespace) -> int:
    from pyavatar.evaluation.profile_training import train_profile

    profile = train_profile(args.dirs, k=args.k)
    profile.save(args.out)
    print(f"wrote {args.out}: {profile.meta['frames']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``eval`` command and its options to ``sub``."""
    p = sub.add_parser(
        "eval",
        help="lip-sync evaluation: build sets, score engines",
        description="Lip-sync evaluation. `eval lipsync DIR` scores a motion source (dsp, learned with "
        "--motion-weights, ...) on a dataset folder next to the RMS-envelope baseline, per voice family and "
        "pooled; `eval speech-free` measures mouth opens on noise, hum and clicks; "
        "`eval make-synthetic OUT` builds a set with espeak-ng phoneme timings; `eval train-profile` "
        "fits a generic vowel profile for the DSP engine. See docs/training.md for the dataset format.",
    )
    s = p.add_subparsers(dest="eval_command", metavar="WHAT", required=True)

    q = s.add_parser(
        "lipsync",
        help="score a motion source (and the RMS baseline) on a set, per voice family",
        description="Score a motion source on a dataset folder (NAME.wav + NAME.json, optional manifest.json) "
        "next to the RMS-envelope baseline: speech-frame and all-frame jaw correlation, vowel accuracy, "
        "silence open rate and best lag, per voice family and pooled.",
    )
    q.add_argument("dir", help="folder of NAME.wav + NAME.json")
    q.add_argument(
        "--motion",
        "--engine",
        dest="motion",
        default="dsp",
        choices=sorted(motion_source_names()),
        help="registered motion source to score (one with a lip engine: dsp, learned; --engine is the old name)",
    )
    q.add_argument("--motion-weights", help="weights of the scored source (learned: RUN/best.safetensors)")
    q.add_argument("--compare", help="more registered motion sources scored in the same run, e.g. dsp")
    q.add_argument("--profile", help="vowel profile JSON (default: the shipped generic profile)")
    q.add_argument("--json", help="write the full report here")
    q.set_defaults(func=lambda a: _lipsync(_with_tail(a)))

    q = s.add_parser(
        "speech-free",
        help="how often a motion source opens the mouth on speech-free input (noise, hum, a fan, clicks)",
        description="Stream speech-free signals (pink and white noise, mains hum, a fan, keyboard clicks; fixed "
        "levels) through a motion source's lip engine and report the share of frames with the mouth open. "
        "Goal: at most 2 %, or no more than dsp when it is compared.",
    )
    q.add_argument(
        "--motion", default="dsp", choices=sorted(motion_source_names()), help="motion source with a lip engine"
    )
    q.add_argument("--motion-weights", help="weights of the scored source (learned: RUN/best.safetensors)")
    q.add_argument("--compare", help="more registered motion sources scored in the same run, e.g. dsp")
    q.add_argument("--seconds", type=float, default=20.0, help="length of each signal")
    q.add_argument("--seed", type=int, default=5)
    q.add_argument("--json", help="write the full report here")
    q.set_defaults(func=_speech_free)

    q = s.add_parser(
        "make-synthetic",
        help="build an evaluation set with espeak-ng",
        description="Render sentences with espeak-ng voices and write NAME.wav + NAME.json reference tracks "
        "from its phoneme events (boundaries refined against the audio).",
    )
    q.add_argument("out", help="output folder")
    q.add_argument(
        "--voices",
        default="en-us+m3,en+f2,de+f4,es+m1,fr+f3",
        help="comma-separated espeak-ng voices (language from the name: en, de, es, fr)",
    )
    q.add_argument("--n", type=int, default=40, help="number of utterances")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--noisy", type=float, default=1 / 3, help="fraction of files with noise and reverb")
    q.add_argument("--tempo", action="store_true", help="also change tempo with sox (pitch kept)")
    q.set_defaults(func=_make_synthetic)

    q = s.add_parser(
        "train-profile",
        help="train a generic vowel profile from synthetic sets",
        description="Fit the DSP lip engine's generic vowel profile on evaluation sets (the shipped profile "
        "was made this way); `pyavatar calibrate` makes a per-voice one.",
    )
    q.add_argument("dirs", nargs="+", help="sets made by make-synthetic")
    q.add_argument("out", help="profile JSON to write")
    q.add_argument("--k", type=int, default=3, help="templates per vowel")
    q.set_defaults(func=_train_profile)


def _with_tail(args: argparse.Namespace) -> argparse.Namespace:
    """Record the arguments so the report names the command that produced it."""
    parts = [str(args.dir), "--motion", args.motion]
    if args.motion_weights:
        parts += ["--motion-weights", str(args.motion_weights)]
    if args.compare:
        parts += ["--compare", str(args.compare)]
    if args.profile:
        parts += ["--profile", str(args.profile)]
    if args.json:
        parts += ["--json", str(args.json)]
    args.argv_tail = parts
    return args
