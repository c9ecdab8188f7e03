"""``pyavatar convert-weights SRC DST``: validate LivePortrait checkpoints and write them as safetensors."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``convert-weights`` command and its options to ``sub``."""
    p = sub.add_parser(
        "convert-weights",
        help="convert LivePortrait checkpoints (.pth) to safetensors",
        description=(
            "Find the LivePortrait checkpoints in SRC by name (appearance_feature_extractor, motion_extractor, "
            "warping_module, spade_generator, stitching_retargeting_module; .pth or .safetensors), check them "
            "strictly against the model layout and write one .safetensors per module into DST."
        ),
    )
    p.add_argument("src", help="folder with the released files (searched recursively) or one of the files")
    p.add_argument("dst", help="output folder (created if needed)")
    p.add_argument(
        "--model-config", metavar="JSON", help="models.yaml-style JSON of module sizes (default: the released model)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pyavatar.cli.errors import CliError
    from pyavatar.render.liveportrait.config import LivePortraitConfig
    from pyavatar.render.liveportrait.weights import CheckpointError, convert_weights

    config = LivePortraitConfig.from_json(args.model_config) if args.model_config else None
    try:
        written = convert_weights(args.src, args.dst, config)
    except CheckpointError as exc:
        raise CliError(exc) from None
    for path in written:
        print(path)
    return 0
