"""Streaming generation: a batched state that observes real frames and imagines new ones.

    stream = model.start_stream(batch_size)
    stream.observe(latents, actions)                  # teacher forcing, any number of frames
    out = stream.imagine(actions, denoising_steps=10) # out.latents, out.rewards, ...

What a stream carries per block: the scan state per spatial block (conv + SSM state) and the
attention keys/values of the cached frames only (frame-local: the previous chunk; causal-window:
the last window-1 frames; causal: every frame, the quadratic reference). These tensors are
allocated once at full size, so `nbytes` is the same after 10 or 10,000 frames for every
variant except `causal`.

Commit rule. State is updated only from clean passes (observed frames at their given noise
levels, imagined frames after their final denoising step), never from intermediate denoising
steps. With frame-local attention the frames of a chunk see each other, so a frame's features
are final only when its chunk is complete: frames of an incomplete chunk wait in a small
pending buffer (at most C-1 frames) and their chunk is recomputed when it fills up. The other
variants are causal per frame and commit every pass.

Observed frames go through the network many chunks per pass (exactly as in training, with the
cache in front). To imagine, new
frames of the chunk are denoised jointly by the DDIM sampler of diffusion.py beside the chunk's
pending known frames (which stay clean), then one clean pass computes rewards and terminations
and commits the chunk.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from lsswm.worldmodel.diffusion import sample_frames
from lsswm.worldmodel.mixer import ScanState
from lsswm.worldmodel.model import LayerState, WorldModel, WorldModelOutput
from lsswm.worldmodel.tokenizer import Tokenizer

PASS_TOKENS = 4096  # query tokens per network pass when observing long contexts


@dataclass
class StreamOutput:
    """Model outputs for the frames passed to `observe`."""

    prediction: Tensor  # (B, n, h, w, C) v-prediction (zero-noise frames: uninformative)
    rewards: Tensor  # (B, n)
    termination_logits: Tensor  # (B, n)
    features: Tensor | None = None  # (B, n, D) pooled final features (e.g. for a policy prior)
    latents: Tensor | None = None  # (B, n, h, w, C) the observed frames' latents, as passed in


@dataclass
class Imagination:
    """Frames imagined by `imagine`, with the model's reward and termination predictions."""

    latents: Tensor  # (B, n, h, w, C)
    rewards: Tensor  # (B, n)
    termination_probs: Tensor  # (B, n) in [0, 1]
    frames: Tensor | None = None  # (B, n, H, W, 3) uint8 when the stream has a tokenizer
    features: Tensor | None = None  # (B, n, D) pooled final features (e.g. for a critic)


class WorldModelStream:
    def __init__(
        self, model: WorldModel, batch_size: int, tokenizer: Tokenizer | None = None
    ) -> None:
        parameter = next(model.parameters())
        device, dtype = parameter.device, parameter.dtype
        config = model.config
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.batch_size = batch_size
        self.committed_frames = 0
        self.pending_count = 0
        hw = config.tokens_per_frame
        capacity = config.kv_cache_frames
        self.layers = model.empty_layer_states(batch_size, device, dtype)
        for layer, block in zip(self.layers, model.blocks, strict=True):
            if block.attention is not None:
                frames = 0 if capacity is None else capacity
                shape = (batch_size, block.attention.n_heads, frames * hw, block.attention.head_dim)
                layer.k = torch.zeros(shape, device=device, dtype=dtype)
                layer.v = torch.zeros(shape, device=device, dtype=dtype)
        pending = config.commit_frames - 1
        grid = (config.latent_height, config.latent_width, config.latent_channels)
        self.pending_latents = torch.zeros(batch_size, pending, *grid, device=device, dtype=dtype)
        self.pending_levels = torch.zeros(batch_size, pending, device=device, dtype=dtype)
        if config.action_kind == "discrete":
            self.pending_actions = torch.zeros(batch_size, pending, device=device, dtype=torch.long)
        else:
            self.pending_actions = torch.zeros(
                batch_size, pending, config.action_size, device=device, dtype=dtype
            )

    # ---- bookkeeping ----------------------------------------------------------------------
    @property
    def frames_seen(self) -> int:
        """Frames observed or imagined so far (committed + pending)."""
        return self.committed_frames + self.pending_count

    @property
    def cached_frames(self) -> int:
        capacity = self.config.kv_cache_frames
        if capacity is None:
            return self.committed_frames
        return min(self.committed_frames, capacity)

    def tensors(self) -> list[Tensor]:
        """Every tensor the stream carries (its whole state)."""
        found = [self.pending_latents, self.pending_levels, self.pending_actions]
        for layer in self.layers:
            if layer.scan is not None:
                found += [layer.scan.conv, layer.scan.ssm]
            if layer.k is not None:
                found += [layer.k, layer.v]
        return found

    @property
    def nbytes(self) -> int:
        """Bytes of the carried state (scan states, KV caches, pending-frame buffer)."""
        return sum(t.numel() * t.element_size() for t in self.tensors())

    def _map(self, fn: Callable[[Tensor], Tensor]) -> WorldModelStream:
        new = copy.copy(self)
        new.pending_latents = fn(self.pending_latents)
        new.pending_levels = fn(self.pending_levels)
        new.pending_actions = fn(self.pending_actions)
        new.layers = []
        for layer in self.layers:
            scan = None
            if layer.scan is not None:
                scan = ScanState(conv=fn(layer.scan.conv), ssm=fn(layer.scan.ssm))
            k = None if layer.k is None else fn(layer.k)
            v = None if layer.v is None else fn(layer.v)
            new.layers.append(LayerState(scan=scan, k=k, v=v))
        new.batch_size = new.pending_latents.size(0)
        return new

    def clone(self) -> WorldModelStream:
        """An independent copy (e.g. to imagine several futures from one state)."""
        return self._map(torch.clone)

    def select(self, index: Tensor | list[int]) -> WorldModelStream:
        """A new stream of the given batch rows; repeats allowed, e.g.
        `stream.select(torch.arange(B).repeat_interleave(K))` for K candidates per row."""
        index = torch.as_tensor(index, device=self.pending_latents.device, dtype=torch.long)
        return self._map(lambda t: t.index_select(0, index))

    @staticmethod
    def concat(streams: list[WorldModelStream]) -> WorldModelStream:
        """One stream holding the rows of ``streams`` in order (e.g. states at different
        points of an episode, imagined from as one batch). They must be at the same point of
        the chunk cycle and hold the same cache length, as for ``assign``."""
        first = streams[0]
        for other in streams[1:]:
            if (other.pending_count, other.cached_frames) != (
                first.pending_count,
                first.cached_frames,
            ):
                raise ValueError(
                    "cannot concatenate streams at different points of the chunk cycle "
                    f"({other.pending_count} vs {first.pending_count} pending frames)"
                )
        parts = iter(zip(*(stream.tensors() for stream in streams), strict=True))
        return first._map(lambda _: torch.cat(next(parts), dim=0))

    def assign(self, index: Tensor | list[int], source: WorldModelStream) -> None:
        """Overwrite rows `index` of this stream with the rows of `source` (same length).

        Rows must be at the same point of the chunk cycle and hold the same cache length
        (for `causal`, the same number of frames); use it to restart finished episodes.
        """
        if (source.pending_count, source.cached_frames) != (self.pending_count, self.cached_frames):
            raise ValueError(
                "cannot assign stream rows: pending frames "
                f"{source.pending_count} vs {self.pending_count}, cached frames "
                f"{source.cached_frames} vs {self.cached_frames}; observe contexts whose "
                "lengths agree modulo the chunk size (and, for causal, agree exactly)"
            )
        index = torch.as_tensor(index, device=self.pending_latents.device, dtype=torch.long)
        for target, value in zip(self.tensors(), source.tensors(), strict=True):
            target.index_copy_(0, index, value.to(target.dtype))

    # ---- the two verbs --------------------------------------------------------------------
    @torch.no_grad()
    def observe(
        self, latents: Tensor, actions: Tensor, noise_levels: Tensor | None = None
    ) -> StreamOutput:
        """Teacher-force frames (B, n, h, w, C) with their actions (actions[:, i] leads into
        frame i). Returns the outputs for these frames; outputs of frames whose chunk is still
        incomplete are provisional (later frames of the chunk will change them)."""
        self._check(latents, actions)
        observed = latents
        if latents.size(1) == 0:
            empty = latents.new_zeros(self.batch_size, 0)
            return StreamOutput(
                latents, empty, empty, latents.new_zeros(self.batch_size, 0, 0), observed
            )
        if noise_levels is None:
            noise_levels = latents.new_zeros(latents.shape[:2])
        known = self.pending_count
        latents = torch.cat([self.pending_latents[:, :known], latents], dim=1)
        actions = torch.cat([self.pending_actions[:, :known], actions.to(self.pending_actions)], 1)
        levels = torch.cat([self.pending_levels[:, :known], noise_levels.to(latents.dtype)], 1)
        predictions, rewards, terminations, features = [], [], [], []
        start, total = 0, latents.size(1)
        while start < total:
            # Whole commit units in as few passes as memory allows, then any incomplete chunk
            # on its own (it stays pending, so it must not move the committed state).
            whole_units = (total - start) // self.config.commit_frames * self.config.commit_frames
            size = min(whole_units, self._frames_per_pass()) if whole_units else total - start
            end = start + size
            out = self._clean_pass(
                latents[:, start:end], actions[:, start:end], levels[:, start:end]
            )
            skip = max(known - start, 0)  # pending frames, returned by an earlier call
            predictions.append(out.prediction[:, skip:])
            rewards.append(out.rewards[:, skip:])
            terminations.append(out.termination_logits[:, skip:])
            features.append(out.features[:, skip:])
            start = end
        return StreamOutput(
            torch.cat(predictions, dim=1),
            torch.cat(rewards, dim=1),
            torch.cat(terminations, 1),
            torch.cat(features, 1),
            observed,
        )

    @torch.no_grad()
    def observe_frames(self, frames: Tensor, actions: Tensor) -> StreamOutput:
        """observe() for pixel frames (B, n, H, W, 3) uint8, encoded by the stream's tokenizer."""
        if self.tokenizer is None:
            raise ValueError("this stream has no tokenizer; start it from a FrameWorldModel")
        dtype = self.pending_latents.dtype
        return self.observe(self.tokenizer.encode(frames).to(dtype), actions)

    @torch.no_grad()
    def imagine(
        self,
        actions: Tensor,
        denoising_steps: int | None = None,
        *,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        decode: bool = True,
        shared_noise: bool = False,
    ) -> Imagination:
        """Generate one frame per action (actions (B, n) or (B, n, A)), committing them to
        the state as if observed. denoising_steps defaults to config.denoising_steps; eta,
        generator and shared_noise (one noise draw for every row) go to the DDIM sampler.
        With a tokenizer (and decode) the decoded uint8 frames come back too."""
        steps = denoising_steps or self.config.denoising_steps
        n_total = actions.size(1)
        self._check(None, actions)
        if n_total < 1:
            raise ValueError("imagine needs at least one action (one per frame to generate)")
        grid = (self.config.latent_height, self.config.latent_width, self.config.latent_channels)
        made_latents, made_rewards, made_terms, made_features = [], [], [], []
        done = 0
        while done < n_total:
            known = self.pending_count
            n_new = min(n_total - done, self.config.chunk_size - known)
            chunk_actions = torch.cat(
                [
                    self.pending_actions[:, :known],
                    actions[:, done : done + n_new].to(self.pending_actions),
                ],
                dim=1,
            )
            known_latents = self.pending_latents[:, :known]
            known_levels = self.pending_levels[:, :known]
            # Denoising passes read the committed state and never write it.
            denoise = functools.partial(
                self._predict, actions=chunk_actions, state=self._model_state()
            )
            new = sample_frames(
                denoise,
                known_latents,
                known_levels,
                (self.batch_size, n_new, *grid),
                steps,
                eta=eta,
                generator=generator,
                shared_noise=shared_noise,
            )
            chunk_levels = torch.cat(
                [known_levels, known_levels.new_zeros(self.batch_size, n_new)], 1
            )
            out = self._clean_pass(torch.cat([known_latents, new], 1), chunk_actions, chunk_levels)
            made_latents.append(new)
            made_rewards.append(out.rewards[:, known:])
            made_terms.append(torch.sigmoid(out.termination_logits[:, known:]))
            made_features.append(out.features[:, known:])
            done += n_new
        latents = torch.cat(made_latents, dim=1)
        frames = None
        if self.tokenizer is not None and decode:
            frames = self.tokenizer.decode_uint8(latents.to(self.tokenizer.latent_mean.dtype))
        return Imagination(
            latents=latents,
            rewards=torch.cat(made_rewards, dim=1),
            termination_probs=torch.cat(made_terms, dim=1),
            frames=frames,
            features=torch.cat(made_features, dim=1),
        )

    # ---- internals ------------------------------------------------------------------------
    def _frames_per_pass(self) -> int:
        """Frames per observe pass: whole chunks, about PASS_TOKENS query tokens (causal
        attention scores grow with the whole cache, so it gets a quarter of that)."""
        config = self.config
        budget = PASS_TOKENS // 4 if config.kv_cache_frames is None else PASS_TOKENS
        chunks = budget // (config.tokens_per_frame * config.chunk_size)
        return max(1, chunks) * config.chunk_size

    def _check(self, latents: Tensor | None, actions: Tensor) -> None:
        config = self.config
        expected_action_dims = 2 if config.action_kind == "discrete" else 3
        if actions.dim() != expected_action_dims or actions.size(0) != self.batch_size:
            raise ValueError(
                f"actions must be (B={self.batch_size}, n"
                + (")" if expected_action_dims == 2 else f", {config.action_size})")
                + f" for {config.action_kind} actions, got {tuple(actions.shape)}"
            )
        if latents is not None:
            grid = (config.latent_height, config.latent_width, config.latent_channels)
            if tuple(latents.shape[2:]) != grid or latents.shape[:2] != actions.shape[:2]:
                raise ValueError(
                    f"latents must be (B, n, {grid[0]}, {grid[1]}, {grid[2]}) with one action "
                    f"per frame, got {tuple(latents.shape)} and actions {tuple(actions.shape)}"
                )

    def _model_state(self) -> list[LayerState]:
        """Per-block state for the model: scan state and the valid part of the KV cache."""
        keep = self.cached_frames * self.config.tokens_per_frame
        states = []
        for layer in self.layers:
            k = v = None
            if layer.k is not None:
                k, v = (
                    layer.k[:, :, layer.k.size(2) - keep :],
                    layer.v[:, :, layer.v.size(2) - keep :],
                )
            states.append(LayerState(scan=layer.scan, k=k, v=v))
        return states

    def _forward(
        self, latents: Tensor, actions: Tensor, levels: Tensor, state: list[LayerState]
    ) -> WorldModelOutput:
        return self.model(latents, levels, actions, frame_start=self.committed_frames, state=state)

    def _predict(
        self, latents: Tensor, levels: Tensor, *, actions: Tensor, state: list[LayerState]
    ) -> Tensor:
        return self._forward(latents, actions, levels, state).prediction

    def _clean_pass(self, latents: Tensor, actions: Tensor, levels: Tensor) -> WorldModelOutput:
        """Run frames of one chunk (pending frames first) and commit them when allowed."""
        out = self._forward(latents, actions, levels, self._model_state())
        n = latents.size(1)
        if n < self.config.commit_frames:
            self.pending_latents[:, :n] = latents
            self.pending_actions[:, :n] = actions
            self.pending_levels[:, :n] = levels
            self.pending_count = n
            return out
        capacity = self.config.kv_cache_frames
        hw = self.config.tokens_per_frame
        for layer, new in zip(self.layers, out.layer_states, strict=True):
            if layer.scan is not None:  # keep the allocated dtypes (SSM state in float32)
                layer.scan = ScanState(
                    conv=new.scan.conv.to(layer.scan.conv.dtype),
                    ssm=new.scan.ssm.to(layer.scan.ssm.dtype),
                )
            if layer.k is not None:
                k, v = torch.cat([layer.k, new.k], 2), torch.cat([layer.v, new.v], 2)
                if capacity is not None:
                    k, v = (
                        k[:, :, k.size(2) - capacity * hw :],
                        v[:, :, v.size(2) - capacity * hw :],
                    )
                layer.k, layer.v = k.contiguous(), v.contiguous()
        self.committed_frames += n
        self.pending_count = 0
        return out
