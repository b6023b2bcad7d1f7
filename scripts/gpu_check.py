"""Helpers of scripts/gpu-check.sh: `dataset DIR` writes the generated training data;
`summarize OUT` measures the card's matmul peak, counts a training step's FLOPs, and writes
OUT/summary.json and OUT/summary.md (tests, scaling tables, training frames/s and MFU)."""

from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path


def write_dataset(root: str) -> None:
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    # 64x64 frames (the small preset's), episodes long enough for its 128-frame stage.
    write_synthetic_dataset(root, episodes=24, steps=300, image_size=64, grid=8)
    print(f"dataset -> {root}")


def measured_peak_flops(device: str = "cuda", size: int = 8192, dtype_name: str = "bfloat16"):
    """Dense matmul FLOP/s measured on this device (median of 10 timed runs)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(3):
        a @ b
    sync()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / sorted(times)[len(times) // 2]


def step_flops_per_frame(model_config: dict, frames: int = 64, device: str = "cuda") -> dict:
    """FLOPs of one bf16 training step (forward + backward) per frame, counted by
    torch.utils.flop_counter on the run's model: matmuls and attention (the banded SDPA
    path, which FlopCounterMode counts; it computes whole key windows, a little more than
    FlexAttention's block-sparse work), not the scan's elementwise work, so MFU is a lower
    bound. Falls back to the trainer's analytic estimate if counting fails."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lsswm.worldmodel.config import WorldModelConfig
    from lsswm.worldmodel.model import WorldModel
    from lsswm.worldmodel.train.loop import estimate_flops_per_step

    config = WorldModelConfig.from_dict(model_config)
    model = WorldModel(config).to(device)
    for block in model.blocks:
        if block.attention is not None:
            block.attention.backend = "banded"
    grid = (config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(1, frames, *grid, device=device)
    if config.action_kind == "discrete":
        actions = torch.randint(0, config.action_size, (1, frames), device=device)
    else:
        actions = torch.randn(1, frames, config.action_size, device=device)
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.autocast(torch.device(device).type, torch.bfloat16):
            model.training_loss(latents, actions).total.backward()
        return {"flops_per_frame": counter.get_total_flops() / frames, "method": "counted"}
    except Exception as error:  # report, and use the analytic estimate
        n_params = sum(p.numel() for p in model.parameters())
        estimate = estimate_flops_per_step(config, n_params, frames, 1) / frames
        return {"flops_per_frame": estimate, "method": f"analytic ({error!r})"}


def training_frames_per_second(run_dir: Path) -> float | None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    if "perf/frames_per_s" not in events.Tags().get("scalars", []):
        return None
    values = [e.value for e in events.Scalars("perf/frames_per_s")]
    later = values[len(values) // 2 :] or values  # past compile/warm-up
    return sorted(later)[len(later) // 2]


def summarize(out: str) -> None:
    import torch

    out_dir = Path(out)
    summary: dict = {
        "gpu": True,
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    junit = out_dir / "cuda-tests.xml"
    if junit.exists():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        summary["cuda_tests"] = {
            k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
        }
    scaling = out_dir / "scaling" / "scaling.json"
    if scaling.exists():
        summary["scaling_tables"] = json.loads(scaling.read_text()).get("tables", [])
    summary["peak_bf16_flops"] = measured_peak_flops()
    run_dir = out_dir / "train"
    if (run_dir / "config.json").exists():
        run_config = json.loads((run_dir / "config.json").read_text())
        fps = training_frames_per_second(run_dir)
        counted = step_flops_per_frame(run_config["model"])
        per_frame = counted["flops_per_frame"]
        summary["training"] = {
            "frames_per_s": fps,
            "flops_per_frame": per_frame,
            "flops_method": counted["method"],
            "mfu": None if fps is None else fps * per_frame / summary["peak_bf16_flops"],
        }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"# GPU check: {summary['device']} (torch {summary['torch']}, CUDA {summary['cuda']})",
        "",
        f"- CUDA tests: {summary.get('cuda_tests', 'not run')}",
        f"- measured bf16 matmul peak: {summary['peak_bf16_flops'] / 1e12:.0f} TFLOP/s",
    ]
    training = summary.get("training")
    if training and training["frames_per_s"]:
        lines.append(
            f"- small hybrid training: {training['frames_per_s']:.0f} frames/s, "
            f"{training['flops_per_frame'] / 1e9:.2f} GFLOP/frame, MFU {100 * training['mfu']:.1f}%"
        )
    from lsswm.eval.tables import text_table

    for table in summary.get("scaling_tables", []):
        lines += ["", "```", text_table(table), "```"]
    (out_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:5]))
    print(f"[gpu-check] results: {out_dir}/summary.md and summary.json")


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    {"dataset": write_dataset, "summarize": summarize}[command](target)
