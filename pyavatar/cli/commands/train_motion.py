"""``pyavatar train-motion``: train the streaming mouth model or the diffusion generator on dataset folders."""

from __future__ import annotations

import argparse
import json


def _run(args: argparse.Namespace) -> int:
    import torch

    from pyavatar.training.config import load_config
    from pyavatar.training.trainer import init_config, init_weights, split, train

    cfg = load_config(args.config)
    init = None
    if args.init is not None and not args.resume:
        init = init_weights(args.init)
        cfg = init_config(cfg, init)
    if cfg.model == "diffusion":
        from pyavatar.training.diffusion import load_motion_clips as load_clips
    else:
        from pyavatar.training.data import load_clips
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    clips = load_clips(args.data)
    train_clips, val = split(clips, cfg.val_speakers)
    if args.val:
        val += load_clips(args.val)
    summary = train(train_clips, val, cfg, args.out, resume=args.resume, stop_at=args.stop_at, device=device, init=init)
    print(json.dumps({**summary, "run": str(args.out), "device": device}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train-motion`` command and its options to ``sub``."""
    p = sub.add_parser(
        "train-motion",
        help="train the mouth model or the diffusion generator (resumable, validated)",
        description=(
            "Train a motion model on dataset folders (pyavatar data / extract-motion): the streaming mouth model "
            "used by --motion learned, or the conformer diffusion generator used by --motion diffusion (config "
            '"model"). Checkpoints are safetensors + JSON, resumable bit for bit with --resume; the best '
            "checkpoint on validation is RUN/best.safetensors. See docs/training.md."
        ),
    )
    p.add_argument("--data", action="append", required=True, help="dataset folder (repeatable)")
    p.add_argument("--val", action="append", help="validation-only dataset folder (repeatable)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, CSV logs, best/final weights")
    p.add_argument("--config", help="JSON config (see docs/training.md); defaults otherwise")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument(
        "--init",
        metavar="WEIGHTS",
        help="fine-tune: start the mouth model from these weights (RUN/best.safetensors, or 'bundled' for the "
        "model shipped in the package); the config's arch may be left out",
    )
    p.add_argument("--stop-at", type=int, help="checkpoint and stop at this step (resume later)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.set_defaults(func=_run)
