"""``--backend ray``: the same episode worker as Ray tasks, on this machine or a cluster.

Each task records one episode with the process-level ``EpisodeWorker`` (Ray reuses worker
processes, so each keeps its env between tasks) and returns the arrays; the driver writes
them with the same atomic episode writer as the local backend. Nodes therefore need no
shared filesystem, only lsswm installed in the same Python environment.

Where it runs: ``--ray-address ADDR`` (or the ``RAY_ADDRESS`` environment variable, e.g.
``ray://head:10001`` or ``auto`` on a cluster node) connects to an existing cluster;
without either, a local Ray instance with ``--workers`` CPUs is started and stopped again.
At most ``--workers`` episodes are in flight at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from lsswm.collect.episode_store import write_episode
from lsswm.collect.errors import MissingExtraError
from lsswm.collect.rollout import EpisodeData
from lsswm.collect.worker import CollectJob, EpisodeResult, worker_for


def import_ray():
    try:
        import ray
    except ImportError as error:
        raise MissingExtraError(
            "--backend ray needs the optional 'distributed' extra: pip install 'lsswm[distributed]' "
            "(or pip install 'ray[default]'), or use --backend local"
        ) from error
    return ray


def record_episode_task(job: CollectJob, index: int) -> EpisodeData:
    """The Ray task body: one episode from this process's cached worker."""
    return worker_for(job).record_episode(index)


def run_ray(
    job: CollectJob,
    indices: Iterable[int],
    workers: int,
    on_result: Callable[[EpisodeResult], None],
    address: str | None = None,
) -> None:
    ray = import_ray()
    address = address or os.environ.get("RAY_ADDRESS")
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
            started_here = True
    task = ray.remote(num_cpus=1, max_retries=2)(record_episode_task)
    queue = list(indices)[::-1]
    in_flight: dict = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                index = queue.pop()
                in_flight[task.remote(job, index)] = index
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                index = in_flight.pop(ref)
                data: EpisodeData = ray.get(ref)
                record = write_episode(Path(job.out), index, data.arrays, job.episode_meta(data))
                on_result(
                    EpisodeResult(record, data.image_shape, data.action_space, data.state_spec)
                )
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
