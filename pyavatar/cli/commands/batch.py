"""``pyavatar batch JOBS --out DIR``: render every job of a CSV / JSON-lines file, locally or on Ray."""

from __future__ import annotations

import argparse


def _batch(args: argparse.Namespace) -> int:
    from pyavatar.batch import load_jobs, run_batch
    from pyavatar.cli import errors

    jobs = load_jobs(args.jobs)
    try:
        summary = run_batch(
            jobs,
            args.out,
            workers=args.workers,
            ray=args.ray,
            retries=args.retries,
            progress=args.progress,
            gpus_per_job=args.gpus_per_job,
        )
    except ImportError as e:  # Ray mode without Ray
        raise errors.CliError(str(e)) from None
    print(f"pyavatar batch: {len(jobs)} jobs: {summary.line()}")
    for job, error in summary.errors.items():
        print(f"  failed: {job}: {error}")
    if summary.interrupted:
        return errors.EXIT_INTERRUPTED
    return errors.EXIT_FAILURE if summary.failed else errors.EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``batch`` command and its options to ``sub``."""
    p = sub.add_parser(
        "batch",
        help="render a job file (CSV or JSON lines) locally or on a Ray cluster, resumably",
        description="Render every job of JOBS (CSV with a header row, or .jsonl; columns: portrait, audio, "
        "output, and optionally id, renderer, weights, motion, emotion, intensity, lip_scale, seed, fps, size, "
        "format, crf) into DIR. Every row is checked before anything runs. Re-running skips jobs whose output "
        "and manifest entry (DIR/manifest.jsonl) match; outputs appear complete or not at all. Ctrl-C stops "
        "after the running jobs, twice abandons them. Exit code: 0 all done, 1 some failed or a bad job file "
        "(every problem listed on stderr), 130 interrupted.",
    )
    p.add_argument("jobs", metavar="JOBS", help="job file (.csv or .jsonl); paths in it are relative to it")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (holds manifest.jsonl)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default: the cores), or Ray tasks in flight (default: the cluster's CPUs)",
    )
    p.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run on Ray: 'auto' joins a running cluster or starts a local one; ADDRESS joins that "
        'cluster (needs pip install "pyavatar[ray]" and paths every node can reach)',
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="K",
        help="attempts after a job fails or its worker dies, before it is recorded as failed (default: 2)",
    )
    p.add_argument(
        "--gpus-per-job",
        type=float,
        default=1.0,
        metavar="G",
        help="GPUs a neural job requests on Ray (fractions share a GPU; default: 1)",
    )
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="show the progress bar (default: on)"
    )
    p.set_defaults(func=_batch)
