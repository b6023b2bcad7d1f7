"""CLI of the collect layer: `lsswm collect`, `lsswm data ...`, `lsswm bench collect|loader`.

Cheap to import: every handler imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json

from lsswm.cli.registry import CommandRegistry


def register(registry: CommandRegistry) -> None:
    registry.add(
        "collect",
        "record a dataset of env episodes (parallel, resumable, deterministic)",
        _configure_collect,
        _run_collect,
    )
    registry.describe_group("data", "dataset tools: verify, info, revisits, import, export")
    registry.add("verify", "check every episode's checksums", _configure_dir, _run_verify, "data")
    registry.add(
        "repair",
        "rebuild manifest.json from the episode folders; set aside broken episodes",
        _configure_dir,
        _run_repair,
        "data",
    )
    registry.add("info", "summarise a dataset", _configure_info, _run_info, "data")
    registry.add(
        "revisits",
        "histogram of revisit distances of a Memory Maze dataset (PNG)",
        _configure_revisits,
        _run_revisits,
        "data",
    )
    registry.add(
        "video",
        "write episodes of a dataset side by side as an mp4/gif",
        _configure_video,
        _run_video,
        "data",
    )
    registry.add(
        "import-memory-maze",
        "convert Memory Maze's official offline .npz trajectories",
        _configure_import_memory_maze,
        _run_import_memory_maze,
        "data",
    )
    registry.add(
        "import-teco",
        "convert TECO Minecraft trajectories (.mp4 + .npz of actions)",
        _configure_import_teco,
        _run_import_teco,
        "data",
    )
    registry.add(
        "export-minari",
        "export a dataset to Minari (lossless, optional extra)",
        _configure_export_minari,
        _run_export_minari,
        "data",
    )
    registry.describe_group("bench", "speed and memory benchmarks")
    registry.add(
        "collect",
        "collection overhead over raw env stepping, and worker scaling",
        _configure_bench_collect,
        _run_bench_collect,
        "bench",
    )
    registry.add(
        "loader",
        "window loader frames/s (L=64, L=400)",
        _configure_bench_loader,
        _run_bench_loader,
        "bench",
    )


# ---- lsswm collect ----------------------------------------------------------------------------


def _configure_collect(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "policies: random, explore, retrieval, crafter-gather, sb3:PATH "
        "(options as NAME:key=value,...; see docs/collect.md).\n"
        "Episode i uses seed BASE+i; re-running on the same --out resumes and ends "
        "byte-identical to an uninterrupted run."
    )
    parser.add_argument("--env", required=True, help="env id, e.g. lsswm/MemoryMaze-9x9-v0")
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes")
    parser.add_argument("--steps", type=int, required=True, help="env steps per episode (cap)")
    parser.add_argument("--policy", default="random", help="collector policy (default random)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--out", required=True, help="dataset folder (created or resumed)")
    parser.add_argument("--seed", type=int, default=0, help="seed base: episode i uses BASE+i")
    parser.add_argument("--backend", choices=["local", "ray"], default="local")
    parser.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to connect to (default: $RAY_ADDRESS, else a local Ray instance)",
    )
    parser.add_argument(
        "--start-method",
        choices=["forkserver", "spawn"],
        default="forkserver",
        help="how local worker processes start (never fork: MuJoCo/EGL state is not fork-safe)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_collect(args: argparse.Namespace) -> int:
    from lsswm.collect.collector import CollectConfig, collect

    config = CollectConfig(
        env_id=args.env,
        episodes=args.episodes,
        steps=args.steps,
        policy=args.policy,
        out=args.out,
        workers=args.workers,
        seed_base=args.seed,
        backend=args.backend,
        start_method=args.start_method,
        ray_address=args.ray_address,
        progress=not args.no_progress,
    )
    summary = collect(config)
    print(
        f"{summary.out}: recorded {len(summary.collected)} episodes "
        f"({summary.env_steps} env steps, {summary.steps_per_second:.1f} steps/s), "
        f"kept {summary.kept}, redid {len(summary.redone)}"
    )
    return 0


# ---- lsswm data ... ---------------------------------------------------------------------------


def _configure_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="dataset folder")


def _run_verify(args: argparse.Namespace) -> int:
    from lsswm.collect.dataset import verify_dataset

    report = verify_dataset(args.dir)
    for name, problems in sorted(report.invalid.items()):
        print(f"INVALID {name}: {'; '.join(problems)}")
    for name in report.missing:
        print(f"MISSING {name}: listed in manifest.json, not on disk")
    for problem in report.manifest_problems:
        print(f"MANIFEST {problem}")
    if report.not_collected:
        names = _name_list(report.not_collected)
        print(f"NOT COLLECTED {names}: requested, never recorded (the dataset is incomplete)")
    for name in report.unindexed:
        print(f"note: {name} is valid but not in manifest.json (re-run the collection to index it)")
    for name in report.leftovers:
        print(f"note: {name} is a leftover of an interrupted write (ignored, removed on resume)")
    bad = len(report.invalid) + len(report.missing)
    print(
        f"{args.dir}: {len(report.valid)} valid, {bad} invalid or missing, "
        f"{len(report.not_collected)} not collected"
    )
    if report.manifest_problems:
        print(f"manifest.json disagrees with the episodes: run `lsswm data repair {args.dir}`")
    if bad or report.not_collected:
        print(
            "re-run the same `lsswm collect` command (or import) on this folder to redo them, "
            f"or `lsswm data repair {args.dir}` to keep only the valid episodes"
        )
    return 0 if report.complete else 1


def _name_list(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _run_repair(args: argparse.Namespace) -> int:
    from shlex import quote

    from lsswm.collect.repair import repair_dataset

    report = repair_dataset(args.dir)
    for name, reasons in sorted(report.dropped.items()):
        print(f"DROPPED {name}: {'; '.join(reasons)}")
    manifest = report.manifest
    assert manifest is not None
    missing = [i for i in range(manifest.episodes_requested) if i not in manifest.episodes]
    before = {"missing": "there was none", "unreadable": "the old one was not JSON"}
    print(
        f"{args.dir}: rebuilt manifest.json ({before.get(report.old_manifest, 'replaced')}) with "
        f"{len(report.kept)} valid episodes of {manifest.env_id} [{manifest.policy}]; "
        f"dropped {len(report.dropped)}"
    )
    if report.dropped or report.old_manifest != "missing":
        print(f"set aside in {report.moved_to}: the dropped episodes and the old manifest")
    if missing and manifest.seed_base is not None:
        print(
            f"{len(missing)} of {manifest.episodes_requested} requested episodes are missing; "
            f"re-run `lsswm collect --env {quote(manifest.env_id)} --policy "
            f"{quote(manifest.policy)} --steps {manifest.steps} --seed {manifest.seed_base} "
            f"--episodes {manifest.episodes_requested} --out {quote(args.dir)}` to record them"
        )
    return 0


def _configure_video(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="dataset folder")
    parser.add_argument("--out", required=True, help="video file (.mp4 or .gif)")
    parser.add_argument(
        "--episodes", type=int, nargs="*", help="episode positions (default: the first four)"
    )
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--scale", type=int, default=2, help="nearest upscaling factor")


def _run_video(args: argparse.Namespace) -> int:
    from lsswm.collect.video import write_dataset_video

    path = write_dataset_video(args.dir, args.out, args.episodes, fps=args.fps, scale=args.scale)
    print(f"wrote {path}")
    return 0


def _configure_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="dataset folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _run_info(args: argparse.Namespace) -> int:
    from lsswm.collect.dataset import summarize_dataset

    summary = summarize_dataset(args.dir)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    lengths = summary["episode_length"]
    print(f"dataset        {summary['root']} (format v{summary['format_version']})")
    print(f"env            {summary['env_id']}   policy {summary['policy']}")
    complete = "complete" if summary["complete"] else "INCOMPLETE"
    print(f"episodes       {summary['episodes']} of {summary['episodes_requested']} ({complete})")
    print(
        f"frames         {summary['frames']} ({summary['env_steps']} env steps; episode length "
        f"{lengths['min']}..{lengths['max']}, mean {lengths['mean']:.1f})"
    )
    print(f"size on disk   {summary['bytes_on_disk'] / 2**20:.1f} MiB")
    print(f"frame shape    {summary['image_shape']}   action space {summary['action_space']}")
    print(f"state keys     {', '.join(summary['state_keys']) or '-'}")
    print(
        f"return         mean {summary['return']['mean']:.2f}, max {summary['return']['max']:.2f}"
    )
    print(
        f"reward rate    {summary['rewards_per_1000_frames']:.2f} per 1000 frames "
        f"({summary['reward_frames']} frames with a nonzero reward)"
    )
    if "action_histogram" in summary:
        counts = summary["action_histogram"]
        total = max(1, sum(counts))
        print("actions        (actions[0], the null action, excluded)")
        for action, count in enumerate(counts):
            bar = "#" * round(40 * count / total)
            print(f"  {action:3d} {count:9d} {100 * count / total:5.1f}% {bar}")
    elif "action_stats" in summary:
        print(f"actions        {summary['action_stats']}")
    return 0


def _configure_revisits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="Memory Maze dataset folder")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--heading-bins", type=int, default=4, help="heading sectors (default 4)")
    parser.add_argument("--json", default=None, help="also write the summary as JSON here")


def _run_revisits(args: argparse.Namespace) -> int:
    from lsswm.collect.dataset import open_dataset
    from lsswm.collect.revisits import (
        dataset_revisit_distances,
        plot_revisit_histogram,
        revisit_summary,
    )
    from lsswm.collect.video import check_output_file

    check_output_file(args.out)
    if args.json:
        check_output_file(args.json)
    dataset = open_dataset(args.dir)
    distances = dataset_revisit_distances(args.dir, args.heading_bins)
    summary = revisit_summary(distances, dataset.num_frames)
    title = f"{dataset.env_id}, policy {dataset.manifest.policy}, {len(dataset)} episodes"
    plot_revisit_histogram(distances, summary, args.out, title)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=1)
    return 0


def _configure_import_memory_maze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "src", help="folder of Memory Maze offline .npz files (searched recursively)"
    )
    parser.add_argument("dir", help="dataset folder to write")
    parser.add_argument("--env", default=None, help="env id (default: from the maze_layout size)")


def _run_import_memory_maze(args: argparse.Namespace) -> int:
    from lsswm.collect.import_memory_maze import import_memory_maze

    manifest = import_memory_maze(args.src, args.dir, env_id=args.env)
    print(f"{args.dir}: {len(manifest.episodes)} episodes of {manifest.env_id}")
    return 0


def _configure_import_teco(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="folder of TECO NAME.mp4 + NAME.npz pairs (recursive)")
    parser.add_argument("dir", help="dataset folder to write")
    parser.add_argument("--env", default="teco/minecraft", help="env id to record")
    parser.add_argument("--num-actions", type=int, default=4, help="discrete actions (default 4)")


def _run_import_teco(args: argparse.Namespace) -> int:
    from lsswm.collect.import_teco import import_teco

    manifest = import_teco(args.src, args.dir, env_id=args.env, num_actions=args.num_actions)
    print(f"{args.dir}: {len(manifest.episodes)} episodes of {manifest.env_id}")
    return 0


def _configure_export_minari(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="dataset folder")
    parser.add_argument("name", help="Minari dataset id, e.g. lsswm/maze9-explore-v0")
    parser.add_argument(
        "--minari-root", default=None, help="Minari datasets folder (default $MINARI_DATASETS_PATH)"
    )


def _run_export_minari(args: argparse.Namespace) -> int:
    from lsswm.collect.export_minari import export_minari

    exported = export_minari(args.dir, args.name, args.minari_root)
    print(f"exported {exported.total_episodes} episodes as Minari dataset {args.name}")
    return 0


# ---- lsswm bench ... ----------------------------------------------------------------------------


def _configure_bench_collect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="lsswm/MemoryMaze-9x9-v0")
    parser.add_argument("--policy", default="random")
    parser.add_argument("--steps", type=int, default=300, help="steps per episode (default 300)")
    parser.add_argument("--repeats", type=int, default=3, help="overhead runs per path")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare ('' to skip)")
    parser.add_argument("--episodes", type=int, default=None, help="scaling episodes (2 x max W)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--json", default="runs/bench/collect.json", help="JSON output")


def _run_bench_collect(args: argparse.Namespace) -> int:
    from lsswm.collect.bench import bench_collect

    bench_collect(args)
    return 0


def _configure_bench_loader(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="dataset folder (default: synthetic)")
    parser.add_argument("--lengths", default="64,400", help="window lengths (default 64,400)")
    parser.add_argument("--windows", type=int, default=200, help="windows per length")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--loader-workers", default="2", help="DataLoader worker counts")
    parser.add_argument("--json", default="runs/bench/loader.json", help="JSON output")


def _run_bench_loader(args: argparse.Namespace) -> int:
    from lsswm.collect.bench import bench_loader

    bench_loader(args)
    return 0
