"""Ray mode (``pip install "pyavatar[ray]"``): one Ray task per job on a local Ray or an existing cluster.

Tasks receive the job description (paths, options) and return a small result:
audio, portraits, weights and outputs are read and written on paths every node
reaches (a shared filesystem), never shipped through the object store. Ray
keeps its worker processes between tasks, so the per-process avatar cache of
:mod:`pyavatar.batch.render` reuses prepared renderers as in local mode. Neural
jobs ask for ``gpus_per_job`` GPUs, so Ray places them on GPU nodes. Ray's own
task retries are off: the batch counts attempts the same way in both modes.
"""

from __future__ import annotations

from typing import Any

from pyavatar.batch.jobs import Job
from pyavatar.batch.pool import PendingJobs
from pyavatar.batch.render import Outcome, Task, attempt

#: Seconds to wait for cancelled tasks to settle (one that already finished still returns its outcome).
CANCEL_SETTLE_S = 10.0


def import_ray() -> Any:
    """The ``ray`` module, or an ImportError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError('Ray mode needs Ray: pip install "pyavatar[ray]" (or run without --ray)') from None
    return ray


def resources(job: Job, gpus_per_job: float) -> dict[str, float]:
    """Ray resources one job asks for: a CPU, and GPUs for a neural renderer."""
    return {"num_cpus": 1, "num_gpus": gpus_per_job if job.neural else 0}


class RayBackend:
    """Jobs as Ray tasks on the session already initialised, else ``ray.init(address)``.

    Args:
        address: ``"auto"`` (join the cluster ``RAY_ADDRESS`` or ``ray start`` made, else start a local
            Ray on this machine's cores) or a cluster address (``HOST:PORT``, ``ray://HOST:10001``).
        workers: jobs in flight at once (default: the cluster's CPUs).
        gpus_per_job: GPUs each neural job requests (fractions share a GPU).
    """

    def __init__(
        self, address: str, task: Task, out_dir: str, *, workers: int | None = None, gpus_per_job: float = 1.0
    ) -> None:
        ray = self._ray = import_ray()
        self._owned = not ray.is_initialized()
        if self._owned:
            ray.init(address=None if address == "auto" else address, include_dashboard=False, log_to_driver=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cpus)
        self._task, self._out, self._gpus = task, out_dir, gpus_per_job
        self._remote = ray.remote(max_retries=0)(attempt)
        self._refs: dict[Any, Job] = {}

    @property
    def running(self) -> list[Job]:
        """Jobs submitted and not finished."""
        return list(self._refs.values())

    def dispatch(self, pending: PendingJobs) -> None:
        """Submit waiting jobs until ``workers`` are in flight."""
        while pending and len(self._refs) < self.workers:
            job = pending.take()
            ref = self._remote.options(**resources(job, self._gpus)).remote(self._task, job, self._out)
            self._refs[ref] = job

    def poll(self, timeout: float) -> list[Outcome]:
        """Outcomes of the tasks that ended within ``timeout`` seconds (a dead worker's task as crashed)."""
        if not self._refs:
            return []
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayError as e:  # the worker process died, the node was lost, ...
                out.append(Outcome(job, error=f"{type(e).__name__}: {str(e).splitlines()[0]}", crashed=True))
        return out

    def abandon(self) -> tuple[list[Outcome], list[Job]]:
        """Cancel every running task (their workers are killed).

        Returns the outcomes of tasks that ended first (record them: their outputs are published) and the
        jobs abandoned.
        """
        ray = self._ray
        finished = self.poll(0)
        refs = list(self._refs)
        for ref in refs:
            ray.cancel(ref, force=True)
        # a task that finished while the cancel was on its way still returns its outcome
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_SETTLE_S) if refs else ([], [])
        abandoned = []
        for ref in refs:
            job = self._refs.pop(ref)
            if ref in ready:
                try:
                    finished.append(ray.get(ref))
                    continue
                except ray.exceptions.RayError:  # cancelled (or crashed): it ran again next time
                    pass
            abandoned.append(job)
        return finished, abandoned

    def close(self) -> None:
        """Leave Ray (and stop it when this backend started it)."""
        if self._owned:
            self._ray.shutdown()
