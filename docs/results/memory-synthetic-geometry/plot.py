"""Draws geometry.png from the four summaries in this folder (run from the repo root)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
RUNS = [
    ("2x2x8\n1x1 / whole", "2x2x8-own"),
    ("4x4x16\n1x1 / whole", "4x4x16-own"),
    ("4x4x16\n2x2 / 4x4 (maze)", "4x4x16-maze"),
    ("4x4x4\n2x2 / 4x4 (maze)", "4x4x4-maze"),
]
rows = [("full context", None), ("cut to window", "window"), ("far past shuffled", "shuffled")]
figure, axis = plt.subplots(figsize=(7, 3.8))
width = 0.25
for offset, (label, ablation) in enumerate(rows):
    for index, (_, name) in enumerate(RUNS):
        model = json.loads((HERE / f"{name}.json").read_text())["models"]["hybrid"]
        entry = (model["probe_ablations"][ablation] if ablation else model["probe"])[
            "far-past-only"
        ]
        low, high = entry["ci95"]
        x = index + (offset - 1) * width
        axis.bar(x, entry["psnr"], width, color=f"C{offset}", label=label if index == 0 else None)
        axis.errorbar(x, entry["psnr"], [[entry["psnr"] - low], [high - entry["psnr"]]], color="k")
axis.axhline(10.8, color="grey", linestyle=":", label="no memory (mean view)")
axis.set_xticks(range(len(RUNS)), [label for label, _ in RUNS], fontsize=8)
axis.set_ylim(9, 13.5)
axis.set_ylabel("latent PSNR, far-past-only frames (dB)")
axis.set_title(
    "Synthetic recall, 20 views, hybrid, 1200 steps: latent grid and scan blocks", fontsize=9
)
axis.legend(fontsize=7, loc="upper right")
figure.tight_layout()
figure.savefig(HERE / "geometry.png", dpi=120)
