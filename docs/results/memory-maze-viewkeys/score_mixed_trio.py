"""Score the view-key maze hybrid and causal-window beside section 17's causal (pose keys) with
the memory experiment's own evaluation (experiments.memory.evaluate_experiment).

Usage, from the repository root: python docs/results/memory-maze-viewkeys/score_mixed_trio.py OUT
where OUT holds data-eval, training.json and the runs named below."""

import json
import sys
from pathlib import Path

from lsswm.experiments import memory as m
from lsswm.worldmodel.checkpoint import load_tokenizer
from lsswm.worldmodel.train.config import TrainConfig, load_config_file

out = Path(sys.argv[1])
runs = {
    "hybrid": "runs/maze-viewkeys/hybrid",
    "causal-window": "runs/maze-viewkeys/causal-window",
    "causal": "runs/maze-fourier/causal",
}
configs = {v: load_config_file(TrainConfig, Path(d) / "config.json") for v, d in runs.items()}
totals = json.loads(Path("runs/maze-fourier/training.json").read_text())
totals.update(json.loads((out / "training.json").read_text()))
budget = m.BUDGETS["full"]
latent_shape = load_tokenizer(
    "runs/maze-memory/tokenizer/tokenizer.safetensors"
).config.latent_shape
log = m._logger(out)
summary = m.evaluate_experiment(out, budget, configs, latent_shape, totals, log)
summary.update(
    budget="full",
    settings=m.asdict(budget),
    overrides=[
        "hybrid, causal-window: model.action_key_view_degrees=-20; causal: section 17's (pose keys)"
    ],
)
(out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
table = m.results_table(summary)
(out / "results.md").write_text(table + "\n")
print(table)
