"""``pyavatar data``: build training sets (synthetic speech, aligned recordings, Asterisk prompts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from pyavatar.data.synth import build

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    voices: dict[str, list[str]] = {}
    for spec in filter(None, (v.strip() for v in (args.voices or "").split(","))):
        engine, sep, voice = spec.partition("=")
        if not sep or not voice:
            raise SystemExit(f"--voices: {spec!r} must look like ENGINE=VOICE (e.g. espeak-ng=en-us+f3)")
        voices.setdefault(engine, []).append(voice)
    summary = build(args.out, engines, args.n, seed=args.seed, voices=voices, augment_p=None if args.augment else {})
    print(json.dumps(summary, ensure_ascii=False))
    if summary["unmapped_phones"]:
        print(f"unmapped phones (labelled as silence): {summary['unmapped_phones']}")
    return 0


def _align(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from pyavatar.audio.sources import FileSource
    from pyavatar.data.align import align
    from pyavatar.data.policy import check_path
    from pyavatar.evaluation.dataset import read_manifest, reference_from_phones, save_item, write_manifest

    check_path(str(Path(args.audio).resolve()))
    text_path = Path(args.transcript)
    text = text_path.read_text(encoding="utf-8").strip() if text_path.is_file() else args.transcript
    src = FileSource(args.audio, chunk_ms=100)
    sr = src.sample_rate
    x = np.concatenate([c.samples for c in src])
    al = align(x, sr, text, args.language, method=args.method, model=_aligner_model(args))
    print(
        json.dumps(
            {"audio": str(args.audio), "method": args.method, "cost": round(al.cost, 4), "phones": len(al.phones)}
        )
    )
    if args.out:
        out = Path(args.out)
        name = args.name or Path(args.audio).stem
        phones = [(p.name, p.start, p.end) for p in al.phones]
        ref = reference_from_phones(phones, len(x) / sr)
        ref.meta = {
            "speaker": args.speaker,
            "family": args.family or args.speaker,
            "language": args.language,
            "text": text,
            "source": "align",
            "align_cost": round(al.cost, 4),
            "aligner": args.method,
            "phones": [[p, round(a, 4), round(b, 4)] for p, a, b in phones],
        }
        save_item(out, name, x, sr, ref)
        clips = [c for c in read_manifest(out).values() if c["name"] != name]
        clips.append(
            {
                "name": name,
                "speaker": args.speaker,
                "family": ref.meta["family"],
                "language": args.language,
                "source": "align",
                "duration_s": round(len(x) / sr, 3),
                "align_cost": round(al.cost, 4),
            }
        )
        write_manifest(out, clips)
        print(f"wrote {out / name}.wav and {name}.json (sample rate {sf.info(out / f'{name}.wav').samplerate} Hz)")
    return 0


def _aligner_model(args: argparse.Namespace):  # noqa: ANN202 (PhoneModel | None; torch imported lazily)
    if not getattr(args, "aligner_model", None):
        return None
    if args.method != "phones":
        raise SystemExit("--aligner-model is a model for --method phones")
    from pyavatar.data.phone_model import load

    return load(args.aligner_model)


def _realign(args: argparse.Namespace) -> int:
    from pyavatar.data.realign import realign_folder

    summary = realign_folder(args.src, args.out, method=args.method, model=_aligner_model(args))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _train_aligner(args: argparse.Namespace) -> int:
    import soundfile as sf

    from pyavatar.data.phone_model import train
    from pyavatar.data.policy import check_path
    from pyavatar.evaluation.dataset import load_dataset

    clips, sources = [], []
    for folder in args.data:
        check_path(str(Path(folder).resolve()))
        items = [it for it in load_dataset(folder) if it.reference.meta.get("phones")]
        if not items:
            raise SystemExit(
                f"{folder}: no clips with phone timings in their meta "
                "(write them with `data synth`, `data asterisk` or `data realign`)"
            )
        for it in items:
            x, sr = sf.read(it.wav, dtype="float32", always_2d=True)
            if sr != 16000:
                raise SystemExit(f"{it.wav}: {sr} Hz; the aligner trains on 16 kHz clips")
            clips.append((x.mean(axis=1), [tuple(p) for p in it.reference.meta["phones"]]))
        sources.append({"folder": str(folder), "clips": len(items)})
    model = train(clips, steps=args.steps, seed=args.seed)
    model.meta["data"] = sources
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "clips": len(clips), "steps": args.steps}))
    return 0


def _asterisk(args: argparse.Namespace) -> int:
    from pyavatar.data.asterisk import import_asterisk

    langs = [s.strip() for s in args.languages.split(",") if s.strip()]
    print(json.dumps(import_asterisk(args.out, langs, limit=args.limit, seed=args.seed)))
    return 0


def _augment(args: argparse.Namespace) -> int:
    from pyavatar.data.copies import augment_folder

    print(json.dumps(augment_folder(args.src, args.out, args.copies, seed=args.seed)))
    return 0


def _noise(args: argparse.Namespace) -> int:
    from pyavatar.data.noise import noise_folder

    print(json.dumps(noise_folder(args.out, args.n, seed=args.seed)))
    return 0


def _align_check(args: argparse.Namespace) -> int:
    from pyavatar.checkpoints import write_json
    from pyavatar.data.align_check import validate

    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    voices = tuple(v.strip() for v in (args.mbrola_voices or "").split(",") if v.strip())
    report = validate(
        args.n,
        seed=args.seed,
        method=args.method,
        model=_aligner_model(args),
        engines=engines,
        **({"mbrola_voices": voices} if voices else {}),
    )
    print(json.dumps(report))
    if args.json:
        write_json(report, Path(args.json))
    return 0


def _method_options(q: argparse.ArgumentParser) -> None:
    q.add_argument(
        "--method",
        choices=["phones", "dtw"],
        default="phones",
        help="phones: the bundled phone model + forced Viterbi (default); dtw: MFCC DTW against espeak-ng",
    )
    q.add_argument("--aligner-model", help="phone model weights for --method phones (default: the bundled one)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``data`` command and its options to ``sub``."""
    p = sub.add_parser(
        "data",
        help="training data: synthetic speech, forced alignment, Asterisk prompts",
        description=(
            "Build training data in the one dataset format (NAME.wav + NAME.json + manifest.json): `synth` "
            "renders speech with espeak-ng, Festival and flite with exact phone timings; `align` force-aligns a "
            "recording to its transcript; `realign` re-aligns a folder's clips; `train-aligner` trains the aligner's "
            "phone model; `asterisk` imports the Asterisk en/es/fr prompts; `augment` writes "
            "augmented copies of a folder's clips; `noise` writes speech-free clips labelled silence; "
            "`align-check` validates the aligner. Material reserved for "
            "held-out evaluation is refused."
        ),
    )
    s = p.add_subparsers(dest="data_command", metavar="WHAT", required=True)

    q = s.add_parser("synth", help="multi-synthesizer speech with exact phone timings")
    q.add_argument("out", help="dataset folder (created; new clips are added to its manifest)")
    q.add_argument(
        "--engines",
        default="espeak-ng,festival,flite",
        help="comma-separated: espeak-ng,mbrola,festival,flite (mbrola needs Debian contrib/non-free mbrola-* voices)",
    )
    q.add_argument("--n", type=int, default=100, help="number of clips")
    q.add_argument("--voices", help="ENGINE=VOICE,... to draw from instead of the defaults (held-out voices refused)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-augment", dest="augment", action="store_false", help="clean clips only")
    q.set_defaults(func=_synth)

    q = s.add_parser("align", help="force-align a recording to its transcript")
    q.add_argument("audio", help="audio file (any format FileSource reads)")
    q.add_argument("transcript", help="text file with the transcript, or the text itself")
    q.add_argument("--language", default="en", choices=["en", "es", "fr", "de"])
    q.add_argument("--out", help="dataset folder to add the aligned clip to")
    q.add_argument("--name", help="clip name (default: the audio file's stem)")
    q.add_argument("--speaker", default="me", help="speaker id (hold out whole speakers)")
    q.add_argument("--family", help="reporting group (default: the speaker)")
    _method_options(q)
    q.set_defaults(func=_align)

    q = s.add_parser("realign", help="re-align a folder's clips to their transcripts with the current aligner")
    q.add_argument("src", help="dataset folder whose clips carry text and language in their meta")
    q.add_argument("out", help="new dataset folder for the re-aligned clips")
    _method_options(q)
    q.set_defaults(func=_realign)

    q = s.add_parser("train-aligner", help="train the aligner's phone model on clips with phone timings")
    q.add_argument("out", help="weights file to write (.safetensors; its .json is written beside it)")
    q.add_argument("--data", action="append", required=True, help="dataset folder (repeat for several)")
    q.add_argument("--steps", type=int, default=1500)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_train_aligner)

    q = s.add_parser("asterisk", help="import the Asterisk en/es/fr core sound prompts, aligned")
    q.add_argument("out", help="dataset folder")
    q.add_argument("--languages", default="en,es,fr")
    q.add_argument("--limit", type=int, help="prompts per language (random subset)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_asterisk)

    q = s.add_parser("augment", help="augmented copies (VTLP, tempo, reverb, noise) of a folder's clips")
    q.add_argument("src", help="dataset folder whose clips carry phone timings")
    q.add_argument("out", help="dataset folder for the copies")
    q.add_argument("--copies", type=int, default=2, help="copies per clip")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_augment)

    q = s.add_parser("noise", help="speech-free clips (room noise, fans, hiss) labelled silence")
    q.add_argument("out", help="dataset folder (created; new clips are added to its manifest)")
    q.add_argument("--n", type=int, default=60, help="number of clips")
    q.add_argument("--seed", type=int, default=0, help="also names the clips: add more with another seed")
    q.set_defaults(func=_noise)

    q = s.add_parser("align-check", help="validate the aligner on Festival/flite/MBROLA speech with known timings")
    q.add_argument("--n", type=int, default=40)
    q.add_argument(
        "--engines",
        default="flite,festival",
        help="comma-separated, round-robin: flite,festival,mbrola (MBROLA voices speak en, fr and de sentences)",
    )
    q.add_argument("--mbrola-voices", help="comma-separated MBROLA voices to draw from (default: the synth defaults)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", help="write the report here")
    _method_options(q)
    q.set_defaults(func=_align_check)
