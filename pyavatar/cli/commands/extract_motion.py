"""``pyavatar extract-motion VIDEO... OUT``: talking-head videos → 16 kHz audio + per-frame FaceParams + checks."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pyavatar.data.extract_motion import Checks, clip_name, extract_clip, write_manifest
    from pyavatar.video import probe_video

    out = Path(args.out)
    checks = Checks(min_found=args.min_found, min_detection=args.min_confidence, max_faces=args.max_faces)
    missing = [v for v in args.videos if not Path(v).is_file()]
    if missing:
        raise FileNotFoundError(f"video file(s) not found: {', '.join(missing)}")
    reports, taken = [], set[str]()
    for video in args.videos:
        path = Path(video)
        total = probe_video(path).frames or None
        with tqdm(total=total, desc=path.name, unit="frame", leave=False, disable=not args.progress) as bar:
            report = extract_clip(path, out, clip_name(path, taken), checks=checks, progress=lambda _i: bar.update())
        reports.append(report)
        verdict = "ok" if report.accepted else "rejected: " + "; ".join(report.reasons)
        print(f"{path}: {report.frames} frames, {verdict}", flush=True)
    manifest = write_manifest(out, reports)
    accepted = sum(r.accepted for r in reports)
    print(f"{accepted}/{len(reports)} clip(s) accepted; manifest {manifest}")
    return 0 if accepted else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``extract-motion`` command and its options to ``sub``."""
    p = sub.add_parser(
        "extract-motion",
        help="talking-head videos → training clips (16 kHz audio + FaceParams)",
        description=(
            "Turn talking-head videos into a motion dataset: 16 kHz audio, per-frame FaceParams from face "
            "tracking (NAME.face.npz) and lip-sync tracks (NAME.json), with per-clip checks (exactly one face, no"
            " cut, detector confidence) listed in manifest.json. The output trains the diffusion generator "
            "(pyavatar train-motion)."
        ),
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="talking-head video files (with an audio track)")
    p.add_argument("out", metavar="OUT", help="dataset folder to write (NAME.wav/.json/.face.npz + manifest.json)")
    p.add_argument("--min-found", type=float, default=0.95, help="fraction of frames that must show the face")
    p.add_argument("--min-confidence", type=float, default=0.6, help="face-detector confidence every sample needs")
    p.add_argument("--max-faces", type=int, default=1, help="faces allowed in a frame")
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars (default: on)"
    )
    p.set_defaults(func=_run)
