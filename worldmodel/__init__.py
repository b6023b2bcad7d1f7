"""lsswm.worldmodel: the world model core (pure PyTorch; see docs/architecture.md).

Modules: config (WorldModelConfig, variants), model (WorldModel, training_loss), stream
(WorldModelStream: observe / imagine), frame_model (FrameWorldModel: with the tokenizer),
tokenizer, diffusion (schedule, noise levels, DDIM sampler), ssd (chunked SSD scan), mixer
(Mamba2 mixer, block-wise scan), masks + attention (frame-local / causal attention),
checkpoint (safetensors save/load), sizing (parameter counts), bench (`lsswm bench stream`).
This file imports nothing, so `lsswm --help` stays fast.
"""
