"""Streaming-generation benchmark: per-frame time and carried-state bytes against context.

For each variant (resized to the hybrid's parameter count) and each context length L: a
stream observes L random frames, then imagines one chunk of frames, timed (median over
repeats, each from a copy of the same state). Expected: flat for hybrid, mamba2, mamba2-fla
and causal-window; growing with L for causal (its KV cache holds every frame).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from lsswm.worldmodel.config import VARIANTS, WorldModelConfig
from lsswm.worldmodel.model import WorldModel
from lsswm.worldmodel.sizing import count_parameters, equal_size_configs

BENCH_SIZES: dict[str, dict[str, Any]] = {
    # CPU: a 4x4 latent grid, 2 layers; the hybrid alternates 1x1 and 2x2 blocks.
    "tiny": dict(
        latent_height=4,
        latent_width=4,
        latent_channels=4,
        d_model=64,
        n_layers=2,
        n_heads=4,
        ssm_head_dim=32,
        ssm_state_size=16,
        # 32-token SSD chunks: the PyTorch scan's fastest on CPU at both block sizes (the
        # per-chunk decay matrices grow with the chunk; docs/training.md, "Scan cost on CPU").
        ssm_scan_chunk=32,
    ),
    # One GPU: an 8x8 latent grid (64x64 frames through an 8x tokenizer), 8 layers.
    "small": dict(
        latent_height=8,
        latent_width=8,
        latent_channels=4,
        d_model=256,
        n_layers=8,
        n_heads=8,
        ssm_head_dim=64,
        ssm_state_size=32,
    ),
}


class BenchmarkError(ValueError):
    user_facing = True


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """Wall and process-CPU seconds of `run()` (CUDA synchronised around it). Process CPU
    time sums all threads and is robust on a shared machine."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def random_actions(config: WorldModelConfig, batch: int, frames: int, device: torch.device):
    if config.action_kind == "discrete":
        return torch.randint(0, config.action_size, (batch, frames), device=device)
    return torch.randn(batch, frames, config.action_size, device=device)


def measure_variant(
    config: WorldModelConfig,
    contexts: list[int],
    *,
    device: torch.device,
    batch_size: int,
    repeats: int,
    denoising_steps: int,
    progress: tqdm | None = None,
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = WorldModel(config).to(device).eval()
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    stream = model.start_stream(batch_size)
    results: dict[str, Any] = {}
    for context in sorted(contexts):
        # Grow the same stream to each context length (cheaper than starting over).
        missing = context - stream.frames_seen
        if missing > 0:
            latents = torch.randn(batch_size, missing, *grid, device=device)
            stream.observe(latents, random_actions(config, batch_size, missing, device))
        new_frames = config.chunk_size
        actions = random_actions(config, batch_size, new_frames, device)
        wall, cpu = [], []
        for _ in range(repeats + 1):  # the first run warms up caches and allocators
            trial = stream.clone()
            imagine = partial(trial.imagine, actions, denoising_steps=denoising_steps)
            seconds, cpu_seconds = timed(imagine, device)
            wall.append(seconds / new_frames)
            cpu.append(cpu_seconds / new_frames)
        results[str(context)] = {
            "ms_per_frame": 1000 * statistics.median(wall[1:]),
            # Process CPU time: robust on a shared machine (all threads summed).
            "cpu_ms_per_frame": 1000 * statistics.median(cpu[1:]),
            "state_bytes": stream.nbytes,
        }
        if progress is not None:
            progress.update(1)
    return results


def run_stream_benchmark(
    *,
    variants: list[str],
    contexts: list[int],
    size: str = "tiny",
    device: str = "cpu",
    batch_size: int = 1,
    repeats: int = 5,
    denoising_steps: int = 10,
) -> dict[str, Any]:
    if size not in BENCH_SIZES:
        raise BenchmarkError(f"unknown size {size!r}; choose one of {', '.join(BENCH_SIZES)}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise BenchmarkError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError("--device cuda given but CUDA is not available; use --device cpu")
    torch_device = torch.device(device)
    base = WorldModelConfig(variant="hybrid", **BENCH_SIZES[size])
    configs = equal_size_configs(base, tuple(variants))
    report: dict[str, Any] = {
        "size": size,
        "device": device,
        "device_name": torch.cuda.get_device_name(torch_device)
        if torch_device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "repeats": repeats,
        "denoising_steps": denoising_steps,
        "frames_per_measurement": base.chunk_size,
        "contexts": sorted(contexts),
        "variants": {},
    }
    with tqdm(total=len(variants) * len(contexts), desc="bench stream", unit="point") as bar:
        for variant in variants:
            config = configs[variant]
            bar.set_postfix_str(variant)
            points = measure_variant(
                config,
                contexts,
                device=torch_device,
                batch_size=batch_size,
                repeats=repeats,
                denoising_steps=denoising_steps,
                progress=bar,
            )
            shortest, longest = points[str(min(contexts))], points[str(max(contexts))]
            report["variants"][variant] = {
                "parameters": count_parameters(config),
                "d_model": config.d_model,
                "points": points,
                "time_ratio": longest["ms_per_frame"] / shortest["ms_per_frame"],
                "cpu_time_ratio": longest["cpu_ms_per_frame"] / shortest["cpu_ms_per_frame"],
                "bytes_ratio": longest["state_bytes"] / shortest["state_bytes"],
            }
    return report


def markdown_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A title line, then a Markdown table of `rows` under `header`."""
    lines = [title, "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def format_table(report: dict[str, Any], clock: str = "wall") -> str:
    """Markdown table; clock "wall" (elapsed) or "cpu" (process CPU time, all threads)."""
    key = "ms_per_frame" if clock == "wall" else "cpu_ms_per_frame"
    contexts = report["contexts"]
    header = ["variant", "params"] + [f"L={c}" for c in contexts]
    header += [f"time {max(contexts)}/{min(contexts)}", "bytes ratio"]
    title = (
        f"per-frame generation time ({clock} ms) and carried state (KiB); size={report['size']}, "
        f"device={report['device']}, threads={report['threads']}, batch={report['batch_size']}, "
        f"denoising steps={report['denoising_steps']}, median of {report['repeats']}"
    )
    rows = []
    for variant, entry in report["variants"].items():
        cells = [variant, f"{entry['parameters'] / 1e3:.0f}K"]
        for context in contexts:
            point = entry["points"][str(context)]
            cells.append(f"{point[key]:.2f} ms / {point['state_bytes'] / 1024:.0f} KiB")
        first, last = entry["points"][str(min(contexts))], entry["points"][str(max(contexts))]
        cells += [f"{last[key] / first[key]:.2f}x", f"{entry['bytes_ratio']:.2f}x"]
        rows.append(cells)
    return markdown_table(title, header, rows)


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    return path
