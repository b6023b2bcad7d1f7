"""The world model: one DiT-like skeleton, five variants (see config.py, docs/architecture.md).

Input: latents (B, T, h, w, C) at per-frame noise levels (B, T) with per-frame actions.
Each latent cell is a token (linear embedding + learned spatial position); the temporal
position comes from the scan order and from rotary embedding in attention.
Each block: [scan] -> [attention] -> MLP, every sub-layer pre-normed with AdaLN-Zero modulated
by the frame's conditioning (noise-level embedding + action embedding).
Output: v-prediction per token, plus per-frame reward and termination predictions from the
pooled final features. Rewards are rare events (a Memory Maze target once in hundreds of
frames), so the default reward head classifies the reward's sign (negative / zero / positive,
as DIAMOND and IRIS do) with class-balanced cross-entropy and zero-initialised logits, and
predicts P(positive) - P(negative); ``reward_head="mse"`` is the regression head of older
checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lsswm.worldmodel import diffusion
from lsswm.worldmodel.attention import FrameAttention
from lsswm.worldmodel.config import WorldModelConfig
from lsswm.worldmodel.masks import FrameMask
from lsswm.worldmodel.mixer import BlockScan, Mamba2Mixer, ScanState

if TYPE_CHECKING:
    from lsswm.worldmodel.stream import WorldModelStream


@dataclass
class LayerState:
    """What one block carries between streaming calls (any field may be absent).

    scan: per-sample, per-block conv + SSM state; k, v: attention keys (not rotated) and values
    of cached frames, (B, heads, frames*hw, head_dim).
    """

    scan: ScanState | None = None
    k: Tensor | None = None
    v: Tensor | None = None


@dataclass
class WorldModelOutput:
    prediction: Tensor  # (B, T, h, w, C) v-prediction
    rewards: Tensor  # (B, T) predicted reward (sign head: P(positive) - P(negative))
    termination_logits: Tensor  # (B, T)
    features: Tensor  # (B, T, D) pooled final features per frame
    layer_states: list[LayerState] | None = None  # per block, this call's states (streaming)
    reward_logits: Tensor | None = None  # (B, T, 3) sign head: negative / zero / positive


@dataclass
class LossOutput:
    total: Tensor
    diffusion: Tensor
    reward: Tensor
    termination: Tensor
    # Detached scalars (no device sync here; call float() when logging).
    metrics: dict[str, Tensor] = field(default_factory=dict)


REWARD_CLASSES = 3  # the sign head's classes: negative, zero, positive


def reward_classes(rewards: Tensor) -> Tensor:
    """Rewards (...) -> class ids (...) int64: 0 negative, 1 zero, 2 positive."""
    return (torch.sign(rewards.float()) + 1).long()


def reward_sign_loss(logits: Tensor, rewards: Tensor, balance: float) -> Tensor:
    """Cross-entropy of the reward's sign, with per-class weights count ** -balance from the
    batch (normalised so the weights of all frames sum to the number of frames).

    balance 0 is plain cross-entropy; 1 gives every class present the same total weight, so
    a reward once in 300 frames counts as much as the 299 frames without one."""
    targets = reward_classes(rewards).reshape(-1)
    flat = logits.float().reshape(-1, logits.size(-1))
    counts = torch.bincount(targets, minlength=flat.size(-1)).float()
    class_weights = counts.clamp(min=1.0) ** -balance
    frame_weights = class_weights[targets]
    frame_weights = frame_weights / frame_weights.mean()
    per_frame = F.cross_entropy(flat, targets, reduction="none")
    return (per_frame * frame_weights).mean()


def timestep_features(levels: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of noise levels (..., ) -> (..., dim), on 1000 * t as in DDPM."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=levels.device, dtype=torch.float32) / half
    )
    angles = (levels.float() * 1000.0)[..., None] * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=-1).to(levels.dtype)


class FrameConditioning(nn.Module):
    """Per-frame conditioning vector: noise-level embedding + action embedding."""

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        dim = config.d_model
        self.noise_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.discrete = config.action_kind == "discrete"
        if self.discrete:
            self.action_embedding = nn.Embedding(config.action_size, dim)
        else:
            self.action_mlp = nn.Sequential(
                nn.Linear(config.action_size, dim), nn.SiLU(), nn.Linear(dim, dim)
            )

    def forward(self, levels: Tensor, actions: Tensor) -> Tensor:
        dim = self.noise_mlp[0].in_features
        dtype = self.noise_mlp[0].weight.dtype
        noise = self.noise_mlp(timestep_features(levels.to(dtype), dim))
        return noise + self.embed_actions(actions)

    def embed_actions(self, actions: Tensor) -> Tensor:
        """(B, T) ids or (B, T, A) vectors -> (B, T, D)."""
        if self.discrete:
            return self.action_embedding(actions.long())
        return self.action_mlp(actions.to(self.noise_mlp[0].weight.dtype))


class FourierActionKeys(nn.Module):
    """Continuous action (..., A) -> key features (..., D) through fixed random Fourier
    features: the overlap of two actions' features approximates a Gaussian kernel of their
    distance, so distinct poses start with nearly orthogonal keys (Rahimi and Recht, 2007).

    With `action_key_view_degrees`, `per_token` gives every latent token the features of its
    own viewing direction and row (WorldModelConfig.action_key_view_degrees)."""

    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        self.view_radians = math.radians(config.action_key_view_degrees)
        self.grid = (config.latent_height, config.latent_width)
        inputs = config.action_size + (1 if self.view_radians else 0)  # + the token's row
        generator = torch.Generator().manual_seed(0)
        frequencies = torch.randn(inputs, config.action_key_fourier // 2, generator=generator)
        # A buffer, so the frequencies travel in the checkpoint with the weights.
        self.register_buffer("frequencies", frequencies * config.action_key_frequency)
        self.project = nn.Linear(config.action_key_fourier, config.d_model)

    def features(self, actions: Tensor) -> Tensor:
        """(..., A) -> (..., F) unprojected features; two actions' dot product over F/2 is
        their kernel value (1 for the same action)."""
        # float32 at least: angles reach tens of radians, which bf16 would round by ~0.1.
        dtype = torch.promote_types(actions.dtype, torch.float32)
        angles = actions.to(dtype) @ self.frequencies.to(dtype)
        return torch.cat([angles.cos(), angles.sin()], dim=-1)

    def forward(self, actions: Tensor) -> Tensor:
        return self.project(self.features(actions).to(self.project.weight.dtype))

    def token_actions(self, actions: Tensor) -> Tensor:
        """(B, T, A) poses -> (B, T, h*w, A+1): per token, the pose with its heading (the last
        two components) turned by the token's column angle, and the token's row index."""
        height, width = self.grid
        dtype = torch.promote_types(actions.dtype, torch.float32)
        columns = torch.arange(width, device=actions.device, dtype=dtype) - (width - 1) / 2
        turn = (columns * self.view_radians).repeat(height)  # (h*w,) raster order
        rows = torch.arange(height, device=actions.device, dtype=dtype).repeat_interleave(width)
        actions = actions.to(dtype)[:, :, None]  # (B, T, 1, A)
        cos, sin = actions[..., -2], actions[..., -1]
        turned = torch.stack(
            [cos * turn.cos() - sin * turn.sin(), cos * turn.sin() + sin * turn.cos()], -1
        )
        rest = actions[..., :-2].expand(-1, -1, height * width, -1)
        row = rows.expand(*actions.shape[:2], -1)[..., None]
        return torch.cat([rest, turned, row], dim=-1)

    def per_token(self, actions: Tensor) -> Tensor:
        """(B, T, A) -> (B, T, h*w, D): each token's key features from its viewing direction."""
        return self(self.token_actions(actions))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


class WorldModelBlock(nn.Module):
    """[scan] -> [attention] -> MLP, each with AdaLN-Zero (shift, scale, gate) per frame."""

    def __init__(self, config: WorldModelConfig, layer: int) -> None:
        super().__init__()
        dim = config.d_model
        self.grid = (config.latent_height, config.latent_width)
        self.scan: BlockScan | None = None
        if config.has_scan:
            mixer = Mamba2Mixer(
                dim,
                config.ssm_inner_dim,
                config.ssm_head_dim,
                config.ssm_state_size,
                config.ssm_conv_width,
                config.ssm_scan_chunk,
                input_gain=config.ssm_input_gain,
                halflife_frames=config.ssm_halflife_frames or None,
                tokens_per_frame=math.prod(config.resolved_scan_blocks()[layer]),
                content_keys=config.ssm_content_keys,
                tied_keys=config.ssm_tied_keys,
                update=config.ssm_update,
                norm=config.ssm_norm,
                read=config.ssm_read,
            )
            self.scan = BlockScan(self.grid, config.resolved_scan_blocks()[layer], mixer)
        # Action-addressed memory: (action embedding + spatial position) -> the scan's keys
        # B, C and the attention's queries and keys.
        self.scan_keys: nn.Linear | None = None
        self.attention_keys: nn.Linear | None = None
        if config.action_keys and self.scan is not None:
            key_count = 1 if config.ssm_tied_keys else 2  # write and read keys, or one for both
            self.scan_keys = nn.Linear(dim, key_count * config.ssm_state_size)
        self.attention: FrameAttention | None = None
        if config.attention_kind is not None:
            mask = FrameMask(config.attention_kind, config.chunk_size, config.window_frames)
            self.attention = FrameAttention(
                dim, config.n_heads, mask, config.tokens_per_frame, config.rope_base
            )
        if config.action_keys and self.attention is not None:
            self.attention_keys = nn.Linear(dim, 2 * dim)
        hidden = int(dim * config.mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.n_sublayers = 1 + (self.scan is not None) + (self.attention is not None)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Linear(dim, 3 * self.n_sublayers * dim)
        nn.init.zeros_(self.modulation.weight)  # AdaLN-Zero: every block starts as identity
        nn.init.zeros_(self.modulation.bias)

    def forward(
        self,
        x: Tensor,
        cond: Tensor,
        frame_start: int,
        state: LayerState | None,
        key_features: Tensor | None = None,
        write_scale: Tensor | None = None,
    ) -> tuple[Tensor, LayerState]:
        """x: (B, T, hw, D); cond: (B, T, D); key_features: (B, T, hw, D) when the scan is
        addressed by action keys; write_scale: (B, T) per-frame factor on the scan's writes."""
        batch, frames, tokens, dim = x.shape
        params = self.modulation(F.silu(cond))[:, :, None].chunk(3 * self.n_sublayers, dim=-1)
        params = iter(params)
        new_state = LayerState()
        if self.scan is not None:
            shift, scale, gate = next(params), next(params), next(params)
            h = modulate(self.norm(x), shift, scale).reshape(batch, frames, *self.grid, dim)
            keys = None
            if self.scan_keys is not None:
                keys = self.scan_keys(key_features).reshape(batch, frames, *self.grid, -1)
            previous = None if state is None else state.scan
            h, new_state.scan = self.scan(h, previous, keys, write_scale)
            x = x + gate * h.reshape(batch, frames, tokens, dim)
        if self.attention is not None:
            shift, scale, gate = next(params), next(params), next(params)
            h = modulate(self.norm(x), shift, scale).reshape(batch, frames * tokens, dim)
            cache = None if state is None or state.k is None else (state.k, state.v)
            keys = None
            if self.attention_keys is not None:
                keys = self.attention_keys(key_features).reshape(batch, frames * tokens, -1)
            h, (new_state.k, new_state.v) = self.attention(h, frame_start, cache, keys)
            x = x + gate * h.reshape(batch, frames, tokens, dim)
        shift, scale, gate = next(params), next(params), next(params)
        x = x + gate * self.mlp(modulate(self.norm(x), shift, scale))
        return x, new_state


class WorldModel(nn.Module):
    def __init__(self, config: WorldModelConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.d_model
        self.token_embedding = nn.Linear(config.latent_channels, dim)
        self.spatial_position = nn.Parameter(torch.randn(config.tokens_per_frame, dim) * 0.02)
        self.conditioning = FrameConditioning(config)
        self.action_key_features: FourierActionKeys | None = None
        if config.action_key_fourier:
            self.action_key_features = FourierActionKeys(config)
        self.blocks = nn.ModuleList(WorldModelBlock(config, i) for i in range(config.n_layers))
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(dim, 2 * dim)
        self.output = nn.Linear(dim, config.latent_channels)
        for layer in (self.final_modulation, self.output):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        reward_outputs = REWARD_CLASSES if config.reward_head == "sign" else 1
        self.reward_head = nn.Sequential(
            nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, reward_outputs)
        )
        self.termination_head = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 1))
        if config.reward_head == "sign":
            # Zero logits: uniform class probabilities and a predicted reward of 0 at the start,
            # so the rare classes are not pushed down by a random initial bias.
            nn.init.zeros_(self.reward_head[-1].weight)
            nn.init.zeros_(self.reward_head[-1].bias)

    def forward(
        self,
        latents: Tensor,
        noise_levels: Tensor,
        actions: Tensor,
        *,
        frame_start: int = 0,
        state: list[LayerState] | None = None,
    ) -> WorldModelOutput:
        """latents (B, T, h, w, C) noised to noise_levels (B, T); actions (B, T) int64 or
        (B, T, A) float, actions[:, t] leading into frame t.

        Without `state` this is the training pass over a whole clip. With `state` (one
        LayerState per block, from a stream) the clip continues frames that came before:
        frame_start is the absolute index of its first frame, and the output also carries the
        per-block states after this clip (layer_states).
        """
        batch, frames, height, width, channels = latents.shape
        x = self.token_embedding(latents).reshape(batch, frames, height * width, -1)
        x = x + self.spatial_position.to(x.dtype)
        cond = self.conditioning(noise_levels, actions)
        key_features = None
        if self.config.action_key_view_degrees:  # validated: implies Fourier action keys
            # Each token's own viewing direction and row: no learned position.
            key_features = self.action_key_features.per_token(actions).to(x.dtype)
        elif self.config.action_keys:
            if self.action_key_features is not None:
                actions_embedded = self.action_key_features(actions)
            else:
                actions_embedded = self.conditioning.embed_actions(actions)
            key_features = actions_embedded[:, :, None] + self.spatial_position.to(x.dtype)
        write_scale = None
        if self.config.ssm_write_gate == "signal":
            write_scale = diffusion.alpha_sigma(noise_levels)[0].to(x.dtype) ** 2
        layer_states = []
        for index, block in enumerate(self.blocks):
            block_state = None if state is None else state[index]
            x, new_state = block(x, cond, frame_start, block_state, key_features, write_scale)
            layer_states.append(new_state)
        x = self.final_norm(x)
        pooled = x.mean(dim=2)  # (B, T, D)
        shift, scale = self.final_modulation(F.silu(cond))[:, :, None].chunk(2, dim=-1)
        prediction = self.output(modulate(x, shift, scale))
        rewards, reward_logits = self.predict_reward(pooled)
        return WorldModelOutput(
            prediction=prediction.reshape(batch, frames, height, width, channels),
            rewards=rewards,
            termination_logits=self.termination_head(pooled).squeeze(-1),
            features=pooled,
            layer_states=layer_states if state is not None else None,
            reward_logits=reward_logits,
        )

    def predict_reward(self, features: Tensor) -> tuple[Tensor, Tensor | None]:
        """Pooled features (..., D) -> predicted reward (...) and, for the sign head, the
        class logits (..., 3)."""
        out = self.reward_head(features)
        if self.config.reward_head != "sign":
            return out.squeeze(-1), None
        probs = torch.softmax(out.float(), dim=-1)
        return (probs[..., 2] - probs[..., 0]).to(out.dtype), out

    def training_loss(
        self,
        latents: Tensor,
        actions: Tensor,
        rewards: Tensor | None = None,
        terminated: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        frame_weights: Tensor | None = None,
    ) -> LossOutput:
        """Diffusion-forcing loss on clean latents (B, T, h, w, C), plus reward and
        termination losses on every frame when their targets are given: reward sign
        classification (class-balanced cross-entropy; MSE for ``reward_head="mse"``) and
        termination BCE with ``termination_pos_weight`` on terminal frames.

        Noise levels: per frame, with the clean-prefix mode (config.clean_prefix_prob); the
        diffusion loss (v-prediction MSE) covers only the noised frames, each weighted by
        `frame_weights` (B, T) when given (a weighted mean over the noised frames).
        """
        batch, frames = latents.shape[:2]
        levels, loss_mask = diffusion.sample_training_noise_levels(
            batch,
            frames,
            self.config.clean_prefix_prob,
            device=latents.device,
            generator=generator,
        )
        levels = levels.to(latents.dtype)
        noise = torch.randn(
            latents.shape, device=latents.device, dtype=latents.dtype, generator=generator
        )
        noisy = diffusion.add_noise(latents, noise, levels)
        target = diffusion.velocity_target(latents, noise, levels)
        out = self(noisy, levels, actions)
        per_frame = (out.prediction.float() - target.float()).pow(2).mean(dim=(2, 3, 4))
        weights = loss_mask.float()
        if frame_weights is not None:
            weights = weights * frame_weights.float()
        diffusion_loss = (per_frame * weights).sum() / weights.sum().clamp(min=1.0)
        zero = diffusion_loss.new_zeros(())
        reward_loss = zero
        extra: dict[str, Tensor] = {}
        if rewards is not None:
            if out.reward_logits is None:
                reward_loss = F.mse_loss(out.rewards.float(), rewards.float())
            else:
                reward_loss = reward_sign_loss(
                    out.reward_logits, rewards, self.config.reward_class_balance
                )
                positive = rewards > 0
                extra["reward_positive_fraction"] = positive.float().mean()
        termination_loss = zero
        if terminated is not None:
            pos_weight = torch.tensor(self.config.termination_pos_weight, device=latents.device)
            termination_loss = F.binary_cross_entropy_with_logits(
                out.termination_logits.float(), terminated.float(), pos_weight=pos_weight
            )
        total = (
            diffusion_loss
            + self.config.reward_loss_weight * reward_loss
            + self.config.termination_loss_weight * termination_loss
        )
        metrics = {
            "loss": total.detach(),
            "diffusion_loss": diffusion_loss.detach(),
            "reward_loss": reward_loss.detach(),
            "termination_loss": termination_loss.detach(),
            "noised_fraction": weights.mean(),
            **extra,
        }
        return LossOutput(total, diffusion_loss, reward_loss, termination_loss, metrics)

    def start_stream(self, batch_size: int) -> WorldModelStream:
        """A fresh streaming state for `batch_size` parallel sequences (see stream.py)."""
        from lsswm.worldmodel.stream import WorldModelStream

        return WorldModelStream(self, batch_size)

    def empty_layer_states(
        self, batch_size: int, device: torch.device, dtype: torch.dtype
    ) -> list[LayerState]:
        """Zero scan states and zero-length (or fixed-capacity, see stream.py) caches."""
        states = []
        for block in self.blocks:
            state = LayerState()
            if block.scan is not None:
                state.scan = block.scan.empty_state(batch_size, device, dtype)
            states.append(state)
        return states
