"""How the command line reports failures: one format, on stderr, with documented exit codes.

Exit codes: 0 success, 1 a failure caused by an input, an option or the machine (one line
``pyavatar COMMAND: error: ...`` on stderr), 2 a usage error (argparse), 130 interrupted (Ctrl-C).
Anything else is a bug in pyavatar and keeps its traceback.
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A failure the command explains itself (the message says what is wrong and what to do); exit code 1."""


class UsageError(CliError):
    """Options that cannot work together or are incomplete, found after parsing; exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that are the user's inputs or machine, reported as one line (exit code 1)."""
    from pyavatar.audio.sources import AudioSourceError
    from pyavatar.data.engines import SynthError
    from pyavatar.evaluation.espeak import EspeakError
    from pyavatar.outputs.preview import PreviewError
    from pyavatar.outputs.virtualcam import VirtualCamError
    from pyavatar.render.registry import RendererUnavailable
    from pyavatar.video.capture import CameraError

    return (
        CliError,
        ValueError,
        OSError,
        AudioSourceError,
        RendererUnavailable,
        VirtualCamError,
        PreviewError,
        CameraError,
        SynthError,
        EspeakError,
    )


def report(command: str | None, message: object) -> None:
    """Print one error line on stderr: ``pyavatar COMMAND: error: MESSAGE``."""
    prefix = f"pyavatar {command}" if command else "pyavatar"
    print(f"{prefix}: error: {message}", file=sys.stderr, flush=True)
