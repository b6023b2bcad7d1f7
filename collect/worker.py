"""The per-process collection worker shared by the local and the Ray backends.

A worker process owns one env and one policy, built on first use and reused for every
episode it is given (episode i always resets with seed ``seed_base + i``, so which worker
records it does not matter). ``record_episode`` returns the arrays (Ray ships them to the
driver); ``collect_episode`` also writes them atomically where the worker runs (local).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsswm.collect.episode_store import EpisodeRecord, write_episode
from lsswm.collect.rollout import EpisodeData, make_env, rollout_episode


@dataclass(frozen=True)
class CollectJob:
    """What every episode of a collection shares (picklable; sent to every worker)."""

    env_id: str
    policy: str
    steps: int
    seed_base: int
    out: str

    def episode_meta(self, data: EpisodeData) -> dict[str, Any]:
        """episode.json fields beyond the arrays: deterministic, no time or host."""
        return {
            "env_id": self.env_id,
            "policy": self.policy,
            "steps": self.steps,
            "action_space": data.action_space,
            **data.meta,
        }


@dataclass(frozen=True)
class EpisodeResult:
    """What a worker reports back to the driver after writing an episode."""

    record: EpisodeRecord
    image_shape: list[int]
    action_space: dict[str, Any]
    state_spec: dict[str, dict[str, Any]]


class EpisodeWorker:
    def __init__(self, job: CollectJob) -> None:
        from lsswm.collect.policies import make_policy

        self.job = job
        self.env = make_env(job.env_id)
        self.policy = make_policy(job.policy, self.env, max_steps=job.steps)

    def record_episode(self, index: int, on_step=None) -> EpisodeData:
        return rollout_episode(
            self.env, self.policy, self.job.seed_base + index, self.job.steps, on_step
        )

    def collect_episode(self, index: int, on_step=None) -> EpisodeResult:
        data = self.record_episode(index, on_step)
        record = write_episode(Path(self.job.out), index, data.arrays, self.job.episode_meta(data))
        return EpisodeResult(record, data.image_shape, data.action_space, data.state_spec)

    def close(self) -> None:
        self.env.close()


# ---- process-level state of a pool worker -------------------------------------------------

_worker: EpisodeWorker | None = None
_worker_job: CollectJob | None = None
_step_counter: Any = None
_STEP_FLUSH = 16  # env steps between updates of the shared progress counter


def worker_for(job: CollectJob) -> EpisodeWorker:
    """This process's worker for ``job`` (built once; Ray reuses processes across tasks)."""
    global _worker, _worker_job
    if _worker is None or _worker_job != job:
        if _worker is not None:
            _worker.close()
        _worker, _worker_job = EpisodeWorker(job), job
    return _worker


def init_pool_worker(step_counter: Any, driver_pid: int) -> None:
    """ProcessPoolExecutor initializer: die with the driver, remember the progress counter.

    The env and policy are built by the first task instead, so that their errors (a bad
    policy option, a missing dependency) come back as that task's exception.
    """
    global _step_counter
    _die_with_driver(driver_pid)
    _step_counter = step_counter


def collect_in_pool_worker(job: CollectJob, index: int) -> EpisodeResult:
    pending = 0

    def on_step() -> None:
        nonlocal pending
        pending += 1
        if pending >= _STEP_FLUSH and _step_counter is not None:
            with _step_counter.get_lock():
                _step_counter.value += pending
            pending = 0

    result = worker_for(job).collect_episode(index, on_step)
    if pending and _step_counter is not None:
        with _step_counter.get_lock():
            _step_counter.value += pending
    return result


def _process_alive(pid: int) -> bool:
    """Is ``pid`` running (a killed but not yet reaped zombie counts as dead)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the kill probe above is all we have


def _die_with_driver(driver_pid: int) -> None:
    """A SIGKILLed driver must not leave workers behind.

    With forkserver the worker's parent is the fork server, which outlives the driver while
    workers still hold its liveness pipe, so a daemon thread watches the driver's pid and
    exits the worker when it is gone. With spawn the parent is the driver itself, and Linux
    delivers SIGKILL on its death as well (prctl PR_SET_PDEATHSIG).
    """
    if os.getppid() == driver_pid:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if not _process_alive(driver_pid):
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if not _process_alive(driver_pid):
                os._exit(1)

    threading.Thread(target=watch, name="lsswm-driver-watch", daemon=True).start()
