"""``lsswm collect``: resumable, deterministic, parallel recording of a dataset.

Episode i always uses seed ``seed_base + i``; re-running the same command on the same folder
keeps every episode that passes its checksums, redoes missing or corrupt ones, and ends
byte-identical to an uninterrupted run (episode folders and manifest.json alike).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lsswm.cli.estimate import Part, print_estimate
from lsswm.collect.dataset import scan_episode_folders
from lsswm.collect.episode_store import (
    TRASH_PREFIX,
    EpisodeRecord,
    find_episode_problems,
    read_episode_meta,
    remove_stale_temp,
)
from lsswm.collect.errors import DatasetError, DiskFullError, disk_full_error
from lsswm.collect.fileio import sha256_file
from lsswm.collect.manifest import MANIFEST_NAME, Manifest, load_manifest, manifest_path
from lsswm.collect.policies import check_policy_name
from lsswm.collect.rollout import check_env_id
from lsswm.collect.worker import CollectJob, EpisodeResult

BACKENDS = ("local", "ray")
START_METHODS = ("forkserver", "spawn")
MANIFEST_SAVE_INTERVAL_S = 2.0


@dataclass
class CollectConfig:
    env_id: str
    episodes: int
    steps: int
    policy: str
    out: str
    workers: int = 1
    seed_base: int = 0
    backend: str = "local"
    start_method: str = "forkserver"
    ray_address: str | None = None
    progress: bool = True

    def job(self) -> CollectJob:
        return CollectJob(self.env_id, self.policy, self.steps, self.seed_base, str(self.out))


@dataclass
class CollectSummary:
    out: Path
    collected: list[int] = field(default_factory=list)  # indices recorded by this run
    kept: int = 0  # valid episodes found on disk and kept
    redone: dict[str, list[str]] = field(default_factory=dict)  # invalid ones, with reasons
    env_steps: int = 0
    seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        return self.env_steps / self.seconds if self.seconds > 0 else 0.0


def _validate(config: CollectConfig) -> None:
    if config.episodes < 0 or config.steps < 1 or config.workers < 1:
        raise DatasetError(
            "--episodes must be >= 0, --steps >= 1 and --workers >= 1 "
            f"(got {config.episodes}, {config.steps}, {config.workers})"
        )
    if config.backend not in BACKENDS:
        raise DatasetError(f"--backend must be one of {BACKENDS}, got {config.backend!r}")
    if config.start_method not in START_METHODS:
        raise DatasetError(f"start method must be one of {START_METHODS}")
    check_policy_name(config.policy)
    check_env_id(config.env_id)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"--out {out} is an existing file, not a folder; pass a folder path")


def check_policy_fits_env(job: CollectJob) -> None:
    """Build the env and the policy once in this process, before anything is written.

    An unknown, incompatible or missing policy (``crafter-gather`` on Memory Maze,
    ``sb3:missing.zip``) fails here instead of in the first worker, after the dataset
    folder was created.
    """
    from lsswm.collect.policies import make_policy
    from lsswm.collect.rollout import make_env

    env = make_env(job.env_id)
    try:
        make_policy(job.policy, env, max_steps=job.steps)
    finally:
        env.close()


def prepare_dataset(out: Path, job: CollectJob, episodes: int, log=print) -> tuple[Manifest, dict]:
    """Create ``out`` or check that it holds the same collection; index its valid episodes.

    Returns the manifest (episodes found valid on disk) and ``{name: problems}`` of the
    episodes that failed their checks and were removed so they get recorded again.
    """
    manifest = load_manifest(out) if manifest_path(out).is_file() else None
    if manifest is not None and not scan_episode_folders(out):
        manifest = None  # nothing was recorded yet (e.g. a failed first run): start afresh
    if manifest is not None:
        asked = (job.env_id, job.policy, job.steps, job.seed_base)
        have = (manifest.env_id, manifest.policy, manifest.steps, manifest.seed_base)
        if asked != have:
            raise DatasetError(
                f"{out} holds a dataset of env={have[0]} policy={have[1]} steps={have[2]} "
                f"seed={have[3]}, but this run asks for env={asked[0]} policy={asked[1]} "
                f"steps={asked[2]} seed={asked[3]}; pass the same arguments to resume it, or "
                "choose another --out"
            )
        manifest.episodes_requested = max(manifest.episodes_requested, episodes)
    else:
        if out.exists() and any(p.name != MANIFEST_NAME for p in out.iterdir()):
            if scan_episode_folders(out):
                raise DatasetError(
                    f"{out} holds episode folders but no manifest.json; rebuild it with "
                    f"`lsswm data repair {out}`, then re-run this command to resume"
                )
            raise DatasetError(
                f"{out} exists, is not empty and has no manifest.json; collect into a new or "
                "empty folder"
            )
        manifest = Manifest(job.env_id, job.policy, job.steps, job.seed_base, episodes)
    out.mkdir(parents=True, exist_ok=True)
    for name in remove_stale_temp(out):
        log(f"removed leftover of an interrupted write: {name}")
    found: dict[int, EpisodeRecord] = {}
    redone: dict[str, list[str]] = {}
    for index, folder in scan_episode_folders(out).items():
        problems = find_episode_problems(folder)
        if not problems:
            meta = read_episode_meta(folder)
            wanted = {"env_id": job.env_id, "policy": job.policy, "steps": job.steps}
            wrong = {k: meta.get(k) for k, v in wanted.items() if meta.get(k) != v}
            if meta.get("seed") != job.seed_base + index:
                wrong["seed"] = meta.get("seed")
            if wrong:
                problems = [f"recorded with {wrong}, not this collection's settings"]
        if problems:
            redone[folder.name] = problems
            log(f"will redo {folder.name}: {'; '.join(problems)}")
            trash = folder.with_name(f"{TRASH_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}")
            folder.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            continue
        found[index] = EpisodeRecord(
            index, folder.name, meta["seed"], meta["length"], sha256_file(folder / "episode.json")
        )
    manifest.episodes = found
    if not found:
        manifest.image_shape, manifest.action_space, manifest.state_spec = None, None, {}
    manifest.save(out)
    return manifest, redone


def collect(config: CollectConfig) -> CollectSummary:
    """Record (or finish recording) the dataset described by ``config``."""
    _validate(config)
    out = Path(config.out)
    job = config.job()
    log = _stderr_log if config.progress else (lambda message: None)
    if config.episodes:
        check_policy_fits_env(job)
    manifest, redone = prepare_dataset(out, job, config.episodes, log)
    summary = CollectSummary(out, kept=len(manifest.episodes), redone=redone)
    pending = [i for i in range(config.episodes) if i not in manifest.episodes]
    if not pending:
        log(f"{out}: all {config.episodes} episodes present and valid; nothing to do")
        return summary
    announce_estimate(config, len(pending))
    progress = _Progress(config, done=config.episodes - len(pending), pending=len(pending))
    last_save = time.monotonic()
    start = time.monotonic()

    def on_result(result: EpisodeResult) -> None:
        nonlocal last_save
        manifest.set_env_description(result.image_shape, result.action_space, result.state_spec)
        manifest.add(result.record)
        summary.collected.append(result.record.index)
        summary.env_steps += result.record.length
        progress.episode_done(result.record.length)
        if time.monotonic() - last_save > MANIFEST_SAVE_INTERVAL_S:
            manifest.save(out)
            last_save = time.monotonic()

    try:
        run_backend(config, job, pending, on_result, progress.set_live_steps)
    except BaseException as error:
        # Index what was finished, but report the first error, not a failure of this save
        # (on a full disk both fail: one "no space left" line, not a nested traceback).
        with contextlib.suppress(OSError, DiskFullError):
            manifest.save(out)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise disk_full_error(out / "episodes", None) from None
        raise
    else:
        manifest.save(out)
    finally:
        progress.close()
        summary.seconds = time.monotonic() - start
    return summary


def announce_estimate(config: CollectConfig, pending: int) -> float:
    """Print how long recording ``pending`` episodes should take (lsswm.envs.speed's assumed
    rates; the workers share the machine's cores) and return the seconds."""
    from lsswm.envs.speed import RESET_SECONDS, WORKER_START_SECONDS, assumed_step_seconds

    workers = max(1, min(config.workers, pending, os.cpu_count() or 1))
    rounds = -(-pending // workers)  # episodes one worker records, at most
    where = f"on {workers} worker{'s' if workers > 1 else ''}"
    part = Part(
        pending * config.steps,
        "env steps",
        assumed_step_seconds(config.env_id),
        parallel=workers,
        where=where,
    )
    quick = None
    if pending > 2 or config.steps > 200:
        quick = f"--episodes {min(pending, 2)} --steps {min(config.steps, 200)}"
    return print_estimate(
        [part],
        overhead_s=WORKER_START_SECONDS + rounds * RESET_SECONDS,
        quick=quick,
        label="collect",
    )


def run_backend(
    config: CollectConfig,
    job: CollectJob,
    indices: list[int],
    on_result: Callable[[EpisodeResult], None],
    on_live_steps: Callable[[int], None],
) -> None:
    if config.backend == "ray":
        from lsswm.collect.ray_runner import run_ray

        run_ray(job, indices, config.workers, on_result, address=config.ray_address)
    else:
        run_local(job, indices, config.workers, on_result, on_live_steps, config.start_method)


def run_local(
    job: CollectJob,
    indices: Iterable[int],
    workers: int,
    on_result: Callable[[EpisodeResult], None],
    on_live_steps: Callable[[int], None] = lambda steps: None,
    start_method: str = "forkserver",
) -> None:
    """Record ``indices`` on ``workers`` processes, each owning one env.

    Processes are started with forkserver (or spawn), never plain fork: a forked copy of a
    process that already initialised MuJoCo/EGL is not safe to use.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from lsswm.collect.worker import collect_in_pool_worker, init_pool_worker

    indices = list(indices)
    context = multiprocessing.get_context(start_method)
    step_counter = context.Value("q", 0)
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(indices))),
        mp_context=context,
        initializer=init_pool_worker,
        initargs=(step_counter, os.getpid()),
    )
    clean_exit = False
    try:
        futures = {pool.submit(collect_in_pool_worker, job, index) for index in indices}
        while futures:
            done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
            on_live_steps(step_counter.value)
            for future in done:
                on_result(future.result())
        clean_exit = True
    finally:
        if not clean_exit:
            # An error or Ctrl-C: do not wait for the other workers' episodes to finish.
            # (ProcessPoolExecutor has no public terminate before Python 3.14.)
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


class _Progress:
    """tqdm bar over episodes with the live env steps/s as postfix."""

    def __init__(self, config: CollectConfig, done: int, pending: int = 0) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=config.episodes,
            initial=done,
            unit="ep",
            desc=f"collect {config.env_id} [{config.policy}]",
            disable=not config.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self.start = time.monotonic()
        self.finished_steps = 0
        self.live_steps = 0
        # Steps still to record, at most (episodes can end before the cap): the ETA in the
        # postfix comes from the live step rate, long before the first episode completes.
        self.planned_steps = pending * config.steps

    def set_live_steps(self, steps: int) -> None:
        self.live_steps = max(self.live_steps, steps)
        self._postfix()

    def episode_done(self, length: int) -> None:
        self.finished_steps += length
        self.bar.update(1)
        self._postfix()

    def _postfix(self) -> None:
        steps = max(self.live_steps, self.finished_steps)
        rate = steps / max(time.monotonic() - self.start, 1e-9)
        text = f"{steps} env steps, {rate:.1f} steps/s"
        if rate > 0 and self.planned_steps > steps:
            left = (self.planned_steps - steps) / rate
            text += f", ETA ~{self.bar.format_interval(left)}"
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr)
