"""Job files: one render per row of a CSV file or per line of a JSON-lines file, validated before anything runs.

Columns (CSV header / JSON keys); paths are relative to the job file's folder:

- ``portrait`` (required): the portrait image.
- ``audio`` (required): the speech file.
- ``output`` (required): output name under the batch's output folder (``clips/a.mp4``; no suffix =
  ``format``'s; ``format=png`` = a folder of PNG frames).
- ``id``: the job's name in the manifest (default: ``output``).
- ``renderer``: a registered renderer name (default ``classical``, ``neural`` when ``weights`` is given).
- ``weights``: LivePortrait checkpoint folder (the neural renderer).
- ``motion``: a registered motion source (``dsp`` default, ``diffusion``, ``joyvasa``...).
- ``motion_weights``: the motion source's checkpoint file (``diffusion``, ``joyvasa``).
- ``emotion``, ``intensity`` (0..1), ``lip_scale`` (0..3), ``seed``: expression and idle motion.
- ``fps`` (default 30), ``size`` (portrait scaled so its longer side is SIZE px before preparing),
  ``format`` (mp4, m4v, mkv, mov, webm, png), ``crf`` (video quality, 0..63, default 20).

A job file never names code: renderers come from the registry only (no ``module:Factory``).
:func:`load_jobs` reports every problem at once, each naming the row and the column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pyavatar.motion.emotion import PRESET_NAMES
from pyavatar.motion.registry import DEFAULT_MOTION, motion_source_names
from pyavatar.render.registry import DEFAULT_RENDERER, renderer_names

#: Output formats: container suffixes, and ``png`` for a folder of frames.
FORMATS = ("mp4", "m4v", "mkv", "mov", "webm", "png")
REQUIRED = ("portrait", "audio", "output")
COLUMNS = (
    *REQUIRED,
    "id",
    "renderer",
    "weights",
    "motion",
    "motion_weights",
    "emotion",
    "intensity",
    "lip_scale",
    "seed",
    "fps",
    "size",
    "format",
    "crf",
)


@dataclass(frozen=True)
class Job:
    """One validated render: absolute input paths, the output relative to the batch folder, all options set."""

    id: str
    portrait: str
    audio: str
    output: str
    renderer: str = DEFAULT_RENDERER
    weights: str = ""
    motion: str = DEFAULT_MOTION
    motion_weights: str = ""
    emotion: str = "neutral"
    intensity: float = 1.0
    lip_scale: float = 1.0
    seed: int = 0
    fps: float = 30.0
    size: int = 0
    format: str = "mp4"
    crf: int = 20
    audio_seconds: float = 0.0

    @property
    def neural(self) -> bool:
        """Whether the job runs a neural renderer (it asks for a GPU on a Ray cluster)."""
        return self.renderer == "neural"

    @property
    def portrait_key(self) -> tuple[str, str, str, int]:
        """What a prepared renderer depends on: jobs with the same key reuse one."""
        return self.portrait, self.renderer, self.weights, self.size


class JobFileError(ValueError):
    """A job file that cannot be run; ``problems`` lists every bad row and column."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        shown = "\n  ".join(problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        super().__init__(f"{path}: {len(problems)} problem(s) in the job file:\n  {shown}")


def _unknown(column: str) -> str:
    return f"column {column!r}: unknown column; columns are {list(COLUMNS)}"


def _rows(path: Path, problems: list[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row mapping) for each job; a string instead of a mapping is that line's syntax error.

    Unknown CSV header columns are reported once, in ``problems``.
    """
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield n, f"not valid JSON ({e.msg} at column {e.colno})"
                continue
            yield n, row if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"
        return
    reader = csv.DictReader(text.splitlines())
    header = [c.strip() for c in reader.fieldnames or []]
    problems += [f"header (line 1), {_unknown(c)}" for c in header if c not in COLUMNS]
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            yield reader.line_num, f"{len(extra)} more cells than the header has columns"
            continue
        if any(v not in (None, "") for v in row.values()):
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k is not None and k.strip() in COLUMNS}


def _number(kind: Callable[[Any], Any], lo: float, hi: float) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        try:
            v = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected {kind.__name__}, got {value!r}") from None
        if not lo <= v <= hi:
            raise ValueError(f"must be in {lo:g}..{hi:g}, got {v!r}")
        return v

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if str(value) not in options:
            raise ValueError(f"unknown value {value!r}; choose from {list(options)}")
        return str(value)

    return parse


def _motion(value: Any) -> str:
    names = sorted(motion_source_names())
    if str(value) not in names:
        raise ValueError(f"unknown motion source {value!r}; a job file may name {names}")
    return str(value)


def _renderer(value: Any) -> str:
    names = sorted(renderer_names())
    if str(value) not in names:
        raise ValueError(f"unknown renderer {value!r}; a job file may name {names}")
    return str(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "renderer": _renderer,
    "motion": _motion,
    "emotion": _choice(PRESET_NAMES),
    "intensity": _number(float, 0.0, 1.0),
    "lip_scale": _number(float, 0.0, 3.0),
    "seed": _number(int, 0, 2**31 - 1),
    "fps": _number(float, 1.0, 240.0),
    "size": _number(int, 64, 8192),
    "format": _choice(FORMATS),
    "crf": _number(int, 0, 63),
}


def audio_duration(path: Path) -> float:
    """Seconds of audio in ``path`` (header only where the format allows); ValueError when unreadable."""
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except RuntimeError:
        pass
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise ValueError("no audio stream")
            s = c.streams.audio[0]
            if s.duration is not None and s.time_base is not None:
                return float(s.duration * s.time_base)
            if c.duration is not None:
                return c.duration / 1e6
            raise ValueError("unknown duration")
    except (av.error.FFmpegError, OSError) as e:
        raise ValueError(f"not a readable audio file ({e})") from None


def _output(value: str, fmt: str | None) -> tuple[str, str]:
    """(normalised output path, format); ValueError for names that leave the output folder or disagree."""
    p = PurePosixPath(str(value).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or p.name.startswith("."):
        raise ValueError(f"must be a relative name inside the output folder, got {value!r}")
    suffix = p.suffix.lower().lstrip(".")
    if suffix:
        if suffix not in FORMATS or suffix == "png":
            raise ValueError(
                f"unknown output type {p.suffix!r}; use {[f for f in FORMATS if f != 'png']} "
                "or no suffix with format=png"
            )
        if fmt is not None and fmt != suffix:
            raise ValueError(f"suffix {p.suffix!r} disagrees with format {fmt!r}")
        return str(p), suffix
    fmt = fmt or "mp4"
    return (str(p) if fmt == "png" else f"{p}.{fmt}"), fmt


def _job(row: dict[str, Any], base: Path, where: str, problems: list[str]) -> Job | None:
    n0 = len(problems)

    def bad(column: str, message: str) -> None:
        problems.append(f"{where}, column {column!r}: {message}")

    for key in row:
        if key not in COLUMNS:
            problems.append(f"{where}, {_unknown(key)}")
    values = {k: v for k, v in row.items() if k in COLUMNS and v not in (None, "")}
    for key in REQUIRED:
        if key not in values:
            bad(key, "required")
    opts: dict[str, Any] = {}
    for key, parse in _PARSERS.items():
        if key in values:
            try:
                opts[key] = parse(values[key])
            except ValueError as e:
                bad(key, str(e))
    files: dict[str, str] = {}
    for key in ("portrait", "audio", "weights", "motion_weights"):
        if key in values:
            path = (base / str(values[key])).resolve()
            if not (path.is_dir() if key == "weights" else path.is_file()):
                bad(key, f"{'folder' if key == 'weights' else 'file'} not found: {path}")
            files[key] = str(path)
    if "audio" in files and len(problems) == n0:
        try:
            opts["audio_seconds"] = audio_duration(Path(files["audio"]))
        except ValueError as e:
            bad("audio", f"{files['audio']}: {e}")
    if "weights" in files:
        opts.setdefault("renderer", "neural")
    if opts.get("renderer") == "neural" and "weights" not in files:
        bad("weights", "the neural renderer needs a weights folder")
    output = None
    if "output" in values:
        try:
            output, opts["format"] = _output(values["output"], opts.get("format"))
        except ValueError as e:
            bad("output", str(e))
    if len(problems) > n0 or output is None:
        return None
    job_id = str(values.get("id", output))
    return Job(id=job_id, output=output, **files, **opts)  # type: ignore[arg-type]


def load_jobs(path: str | Path) -> list[Job]:
    """Every job of a CSV (header row) or JSON-lines (``.jsonl``) file; :class:`JobFileError` lists all problems."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"job file not found: {path}")
    base = path.resolve().parent
    problems: list[str] = []
    jobs: list[Job] = []
    seen_id: dict[str, str] = {}
    seen_out: dict[str, str] = {}
    for row_no, (line, row) in enumerate(_rows(path, problems), 1):
        where = f"row {row_no} (line {line})"
        if isinstance(row, str):
            problems.append(f"{where}: {row}")
            continue
        job = _job(row, base, where, problems)
        if job is None:
            continue
        for key, seen, column in ((job.id, seen_id, "id"), (job.output.lower(), seen_out, "output")):
            if key in seen:
                problems.append(f"{where}, column {column!r}: {key!r} is already used by {seen[key]}")
            seen[key] = where
        jobs.append(job)
    if not jobs and not problems:
        problems.append("no jobs (a CSV file needs a header row: portrait,audio,output,...)")
    if problems:
        raise JobFileError(path, problems)
    return jobs
