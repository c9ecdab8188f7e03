"""Local mode: a pool of worker processes, one job at a time each, with portrait affinity and crash attribution.

``concurrent.futures`` fails every running job when one worker dies
(``BrokenProcessPool``), so a crashing job could not be told apart from its
neighbours. Here each worker process has its own pipe: when a process dies the
pool knows the one job it held, reports it as crashed and starts a fresh
process. A job goes preferably to a worker that last rendered the same portrait
(its prepared renderer is reused). Workers ignore Ctrl-C (the batch decides)
and die with the batch process (Linux parent-death signal).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import OrderedDict, deque
from collections.abc import Iterable
from multiprocessing.connection import Connection, wait
from typing import Any

from pyavatar.batch.jobs import Job
from pyavatar.batch.render import Outcome, Task, attempt


class PendingJobs:
    """Jobs waiting to run, grouped by portrait in order of first appearance."""

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        self._groups: OrderedDict[tuple, deque[Job]] = OrderedDict()
        for job in jobs:
            self.add(job)

    def add(self, job: Job) -> None:
        """Queue ``job`` behind the jobs of its portrait."""
        self._groups.setdefault(job.portrait_key, deque()).append(job)

    def take(self, prefer: tuple | None = None) -> Job:
        """The next job of portrait ``prefer`` if any is waiting, else the next job of the oldest group."""
        key = prefer if prefer in self._groups else next(iter(self._groups))
        group = self._groups[key]
        job = group.popleft()
        if not group:
            del self._groups[key]
        return job

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def __bool__(self) -> bool:
        return bool(self._groups)


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the worker exits when its pipe closes
        pass


def _worker(conn: Connection, task: Task, out_dir: str, threads: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:
        return
    import torch

    torch.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(attempt(task, job, out_dir))


class _Slot:
    def __init__(self) -> None:
        self.process: Any = None
        self.conn: Connection | None = None
        self.job: Job | None = None
        self.last_key: tuple | None = None


class LocalPool:
    """``workers`` processes rendering jobs with ``task`` into ``out_dir``."""

    def __init__(self, workers: int, task: Task, out_dir: str, *, threads: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self._ctx = mp.get_context("spawn")
        self._task, self._out, self._threads = task, out_dir, threads
        self._slots = [_Slot() for _ in range(workers)]
        self.workers = workers

    @property
    def running(self) -> list[Job]:
        """Jobs being rendered now."""
        return [s.job for s in self._slots if s.job is not None]

    def _start(self, slot: _Slot) -> None:
        ours, theirs = self._ctx.Pipe()
        slot.process = self._ctx.Process(
            target=_worker, args=(theirs, self._task, self._out, self._threads, os.getpid()), daemon=True
        )
        slot.process.start()
        theirs.close()
        slot.conn, slot.last_key = ours, None

    def dispatch(self, pending: PendingJobs) -> None:
        """Hand waiting jobs to idle workers."""
        for slot in self._slots:
            if not pending:
                return
            if slot.job is not None:
                continue
            if slot.process is None or not slot.process.is_alive():
                self._start(slot)
            job = pending.take(slot.last_key)
            assert slot.conn is not None
            slot.conn.send(job)
            slot.job, slot.last_key = job, job.portrait_key

    def poll(self, timeout: float) -> list[Outcome]:
        """Outcomes of the jobs that ended within ``timeout`` seconds (a dead worker's job as crashed)."""
        busy = {s.conn: s for s in self._slots if s.job is not None and s.conn is not None}
        sentinels = {s.process.sentinel: s for s in busy.values()}
        if not busy:
            return []
        ready = wait([*busy, *sentinels], timeout)
        out: list[Outcome] = []
        for slot in {id(s): s for s in (busy.get(r) or sentinels.get(r) for r in ready) if s}.values():
            assert slot.job is not None and slot.conn is not None
            outcome: Outcome | None = None
            if slot.conn.poll():
                try:
                    outcome = slot.conn.recv()
                except Exception:  # cut off mid-message by the worker's death
                    outcome = None
            if outcome is None:
                slot.process.join(5)
                code = slot.process.exitcode
                how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
                outcome = Outcome(slot.job, error=f"worker process died ({how})", crashed=True)
                slot.conn.close()
                slot.process = slot.conn = None
            slot.job = None
            out.append(outcome)
        return out

    def abandon(self) -> tuple[list[Outcome], list[Job]]:
        """Kill the workers now: the outcomes of jobs that ended first (record them), and the jobs abandoned."""
        finished = self.poll(0)
        jobs = self.running
        for slot in self._slots:
            if slot.process is not None:
                slot.process.kill()
                slot.process.join(5)
            slot.process = slot.conn = slot.job = None
        return finished, jobs

    def close(self) -> None:
        """Stop idle workers (busy ones are killed: call after the running jobs ended)."""
        for slot in self._slots:
            if slot.process is None:
                continue
            if slot.job is None and slot.conn is not None:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
                slot.process.join(10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(5)
            slot.process = slot.conn = slot.job = None
