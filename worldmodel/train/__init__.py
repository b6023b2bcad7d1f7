"""lsswm.worldmodel.train: training the tokenizer and the world model (docs/training.md).

Modules: config (typed run configs, presets, overrides), data (window batches from a
dataset), skeleton (the loop, resume and optimizer both trainers share), loop (`train`: the
world model), tokenizer (`train_tokenizer`), runtime (devices,
DDP, stop signals, divergence), checkpoint (run folders, resume state), metrics and video
(what the trainer logs), synthetic (a toy dataset for tests), commands (`lsswm train`,
`lsswm train-tokenizer`). This file imports nothing, so `lsswm --help` stays fast.
"""
