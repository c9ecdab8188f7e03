"""Batch rendering: a job file rendered locally (a process pool) or on a Ray cluster, resumable and lossless.

``pyavatar batch JOBS --out DIR`` is the command line; in Python::

    from pyavatar.batch import load_jobs, run_batch

    summary = run_batch(load_jobs("jobs.csv"), "renders", workers=2)      # local processes
    summary = run_batch(load_jobs("jobs.csv"), "renders", ray="auto")     # Ray

See docs/scaling.md.
"""

from pyavatar.batch.jobs import COLUMNS, FORMATS, Job, JobFileError, load_jobs
from pyavatar.batch.render import render_job
from pyavatar.batch.runner import BatchSummary, run_batch

__all__ = ["COLUMNS", "FORMATS", "BatchSummary", "Job", "JobFileError", "load_jobs", "render_job", "run_batch"]
