"""World model configuration: one flat dataclass, JSON round-trippable, carried by checkpoints.

The five variants share one skeleton (see docs/architecture.md); the ``VARIANTS`` table below
is the one place that says which sub-layers a block has, which attention mask they use, and
what a stream keeps of its past. Everything else asks the config (``has_scan``,
``attention_kind``, ``kv_cache_frames``, ``resolved_scan_blocks``), never the variant's name.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from typing import Any

ACTION_KINDS = ("discrete", "continuous")
REWARD_HEADS = ("sign", "mse")
# Values of fields added after checkpoints were first written: a config without the field was
# trained (and must be rebuilt) with these.
LEGACY_DEFAULTS: dict[str, Any] = {
    "reward_head": "mse",
    "termination_pos_weight": 1.0,
    # Mamba2's own scan recipe (before the recall recipe, docs/architecture.md "Memory").
    "ssm_input_gain": "dt",
    "ssm_halflife_frames": (),
    "action_keys": False,
    "action_key_fourier": 0,
}
# The scan settings that learn recall beyond the attention window on the synthetic task
# (docs/experiments.md). Opt-in (the `memory` preset, the memory experiments) until checked on
# Memory Maze: on a rare-reward test, action keys slowed the reward head (docs/experiments.md).
RECALL_RECIPE: dict[str, Any] = {
    "ssm_input_gain": "unit",
    "ssm_halflife_frames": (1.0, 200.0),
    "action_keys": True,
}
# A memory whose writes replace what their key held (the gated delta rule), each frame
# writing as much as it is clean: with both, the synthetic hybrid's recall sharpens
# (docs/experiments.md, 32); either alone does not.
DELTA_WRITES: dict[str, Any] = {"ssm_update": "delta", "ssm_write_gate": "signal"}
# With continuous actions (poses) the recipe's keys read Fourier features of the action
# (docs/experiments.md, 17); discrete actions already get one learned key each.
FOURIER_ACTION_KEYS: dict[str, Any] = {"action_key_fourier": 256}


def recall_recipe(action_kind: str) -> dict[str, Any]:
    """The recall recipe's config fields for a model with `action_kind` actions."""
    return RECALL_RECIPE | (FOURIER_ACTION_KEYS if action_kind == "continuous" else {})


def without_unusable_fourier_keys(
    model: WorldModelConfig, changes: dict[str, Any], source: str
) -> dict[str, Any]:
    """`changes` to `model`, plus action_key_fourier=0 when they leave the Fourier keys
    nothing to serve (discrete actions, or no action keys), with a note naming `source`. So a
    preset with the recall recipe still trains on discrete-action data."""
    after = {"action_keys": model.action_keys, "action_kind": model.action_kind, **changes}
    usable = after["action_keys"] and after["action_kind"] == "continuous"
    if not model.action_key_fourier or usable or "action_key_fourier" in changes:
        return changes
    reason = "discrete actions" if after["action_keys"] else "no action keys"
    print(
        f"note: {reason} ({source}); dropping model.action_key_fourier={model.action_key_fourier}",
        file=sys.stderr,
    )
    return {**changes, "action_key_fourier": 0}


SCAN_UPDATES = ("add", "delta")  # the scan's write rule (worldmodel/mixer.py)
SCAN_WRITE_GATES = ("none", "signal")  # what a token writes by its frame's noise level
SCAN_NORMS = ("all", "head")  # the scan output's RMSNorm: over all heads, or per head
SCAN_READS = ("current", "past")  # what a token reads: after its own write, or before its frame
SCANS = ("block-wise", "whole-frame")  # or None: no scan sub-layer
CACHE_RULES = ("chunk", "window", "all", "none")


@dataclass(frozen=True)
class Variant:
    """What a variant's blocks are made of.

    scan: "block-wise" (per-layer (b_h, b_w) blocks), "whole-frame", or None (no scan).
    attention: the mask kind of masks.py ("frame-local": a chunk of C frames and the previous
        one; "causal"; "causal-window": the last `window_frames`), or None (no attention).
    cache: the attention keys/values a stream keeps ("chunk": the last `chunk_size` frames,
        "window": the last `window_frames - 1`, "all": every frame, "none").
    """

    scan: str | None
    attention: str | None
    cache: str


VARIANTS: dict[str, Variant] = {
    "hybrid": Variant(scan="block-wise", attention="frame-local", cache="chunk"),
    "causal": Variant(scan=None, attention="causal", cache="all"),
    "causal-window": Variant(scan=None, attention="causal-window", cache="window"),
    "mamba2": Variant(scan="whole-frame", attention=None, cache="none"),
    "mamba2-fla": Variant(scan="whole-frame", attention="frame-local", cache="chunk"),
}


class WorldModelConfigError(ValueError):
    """A world model configuration that cannot be built (bad variant, sizes, blocks)."""

    user_facing = True


def reject_unknown_fields(
    cls: type, data: dict[str, Any], error: type[Exception], what: str
) -> None:
    """Raise ``error`` when ``data`` has keys that are not fields of dataclass ``cls``: a
    config or checkpoint written by another lsswm version."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise error(
            f"unknown {what} fields {unknown}; this checkpoint or config was written by a "
            "different lsswm version"
        )


@dataclass(frozen=True)
class WorldModelConfig:
    variant: str = "hybrid"
    # Latent grid the model works on (tokenizer output): one token per latent cell.
    latent_height: int = 8
    latent_width: int = 8
    latent_channels: int = 4
    # Actions: "discrete" with `action_size` choices (learned embedding), or "continuous"
    # vectors of length `action_size` (MLP).
    action_kind: str = "discrete"
    action_size: int = 6
    # Backbone.
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: float = 4.0
    # Attention: frames are grouped in chunks of `chunk_size` (frame-local attention sees its
    # chunk and the previous one); `window_frames` is the causal-window length.
    chunk_size: int = 5
    window_frames: int = 10
    rope_base: float = 10000.0
    # Block-wise scan: per-layer (b_h, b_w); empty means the default pattern (alternating
    # small and large blocks for hybrid, whole frame for the mamba2 variants).
    scan_blocks: tuple[tuple[int, int], ...] = ()
    ssm_state_size: int = 16
    ssm_head_dim: int = 32
    ssm_expand: int = 2
    ssm_conv_width: int = 4
    ssm_scan_chunk: int = 64  # SSD chunk length in tokens (an implementation detail, not C)
    # The scan's recipe (docs/architecture.md, "Memory"). Defaults: Mamba2's, "dt" input gain
    # dt * x and its per-token dt range. RECALL_RECIPE: "unit" gives every head its input
    # whatever its decay; a (low, high) range initialises per-frame half-lives log-spaced
    # across heads.
    ssm_input_gain: str = "dt"
    ssm_halflife_frames: tuple[float, ...] = ()
    # Action keys: a projection of (action embedding + spatial position) is added to the
    # scan's write/read keys B, C and to attention's queries/keys, so memory can be
    # addressed by pose rather than by noisy content alone.
    action_keys: bool = False
    # With action keys: False makes them the scan's whole keys, B and C no longer read the
    # token's content. Content in a key adds a view-dependent part to every pose's key, so
    # stored views overlap more. Measured: no gain on the synthetic task (docs/experiments.md,
    # 30).
    ssm_content_keys: bool = True
    # Without content keys: True makes the scan read with the key it writes with (C = B, one
    # key per token from the action keys). With the delta rule and unit keys, a read at a pose
    # then returns the last value written at that pose exactly, where a separately learned
    # read key only approximates the write key and mixes in what other poses stored.
    ssm_tied_keys: bool = False
    # How the scan writes: "add" (Mamba2: h = a h + x B^T) or "delta" (the gated delta rule,
    # worldmodel/delta.py: unit-norm keys, and a write replaces what its key held, so stored
    # views do not leak into each other's recalls as they accumulate). With "delta" the input
    # gain is a learned write strength in (0, 1), and ssm_input_gain does not apply.
    ssm_update: str = "add"
    # What a token writes to the scan, by its frame's noise level. "none": every token writes
    # as the mixer's projections decide. "signal": the write (the input x for "add", the write
    # strength for "delta") is scaled by alpha(level)^2, the clean signal's share of the
    # frame's variance: in diffusion forcing most context frames are noisy, and a memory that
    # keeps one summary cannot later pick the clean sighting out, as attention can.
    ssm_write_gate: str = "none"
    # The RMSNorm on the scan's output: "all" (Mamba2 with one group: one norm over every
    # head) or "head" (each head on its own, as gated DeltaNet does), so a recalling head's
    # output scale does not depend on what the other heads hold.
    ssm_norm: str = "all"
    # What a token reads from the scan: "current", the state after its own write (Mamba's
    # order), or "past", the state as it stood before the token's frame (delta rule only). A
    # frame being denoised is noisy: with "current" its own write is part of every read, and
    # with the delta rule it replaces, in proportion to its write strength, the very view it
    # should recall; "past" reads the memory alone and leaves the frame's content to the
    # skip term.
    ssm_read: str = "current"
    # Continuous actions only: the keys read `action_key_fourier` random Fourier features of
    # the action (frequencies ~ N(0, action_key_frequency^2) per unit of action) instead of
    # the action embedding. A linear memory's read returns every stored value weighted by key
    # overlap; a shallow MLP of (x, y, cos, sin) gives neighbouring poses nearly parallel
    # keys, Fourier features give them nearly orthogonal ones (docs/experiments.md, 17).
    # 0: off.
    action_key_fourier: int = 0
    action_key_frequency: float = 8.0
    # With Fourier keys: the angle in degrees between neighbouring latent columns (a camera's
    # horizontal field of view over the latent width; signed, negative when the columns run
    # clockwise). Nonzero: each token's keys read the Fourier features of its own viewing
    # direction (the heading, the action's last two components, turned by the column's
    # angle) and its row, instead of the pose plus a learned position. Tokens that look the
    # same way then share keys whichever column they sit in, so a view that recurs a fraction
    # of a token off still meets the keys it was written under (docs/experiments.md, 21-22:
    # +3.8 dB on the synthetic task with drift, no far-past gain on Memory Maze). 0: off.
    action_key_view_degrees: float = 0.0
    # Diffusion forcing (schedule: cosine, v-prediction; fixed, see docs/architecture.md).
    clean_prefix_prob: float = 0.5
    denoising_steps: int = 10  # default for generation
    reward_loss_weight: float = 1.0
    termination_loss_weight: float = 1.0
    # Rare events (a Memory Maze reward comes once in hundreds of frames). "sign": the reward
    # head classifies the reward's sign (negative / zero / positive) with class-balanced
    # cross-entropy and a zero-initialised output layer; the predicted reward is
    # P(positive) - P(negative). "mse": the regression head of checkpoints written before
    # (a config without the field means "mse", see LEGACY_DEFAULTS).
    reward_head: str = "sign"
    # Sign head: in each batch a class's weight is proportional to count ** -balance (0: plain
    # cross-entropy, 1: every class present weighs the same in total).
    reward_class_balance: float = 0.5
    # Termination BCE: weight of the (rare) terminal frames.
    termination_pos_weight: float = 10.0

    def __post_init__(self) -> None:
        # JSON gives lists; keep the dataclass hashable and comparable.
        blocks = tuple((int(b[0]), int(b[1])) for b in self.scan_blocks)
        object.__setattr__(self, "scan_blocks", blocks)
        halflife = tuple(float(v) for v in self.ssm_halflife_frames)
        object.__setattr__(self, "ssm_halflife_frames", halflife)
        self.validate()

    # ---- derived properties -------------------------------------------------------------
    @property
    def layout(self) -> Variant:
        """The variant's row of the VARIANTS table."""
        return VARIANTS[self.variant]

    @property
    def has_scan(self) -> bool:
        return self.layout.scan is not None

    @property
    def attention_kind(self) -> str | None:
        """Mask kind of the attention sub-layer (see masks.py), or None for no attention."""
        return self.layout.attention

    @property
    def tokens_per_frame(self) -> int:
        return self.latent_height * self.latent_width

    @property
    def commit_frames(self) -> int:
        """Frames that must be seen together before streaming state can be committed.

        Frame-local attention is bidirectional inside a chunk, so a frame's features are
        final only once its whole chunk is known; every other variant is causal per frame.
        """
        return self.chunk_size if self.attention_kind == "frame-local" else 1

    @property
    def kv_cache_frames(self) -> int | None:
        """Frames of keys/values a stream keeps per layer (None: all of them, it grows)."""
        return {
            "chunk": self.chunk_size,
            "window": self.window_frames - 1,
            "all": None,
            "none": 0,
        }[self.layout.cache]

    @property
    def ssm_inner_dim(self) -> int:
        return self.ssm_expand * self.d_model

    def resolved_scan_blocks(self) -> tuple[tuple[int, int], ...]:
        """(b_h, b_w) for every layer (empty tuple for variants without a scan)."""
        if not self.has_scan:
            return ()
        if self.scan_blocks:
            return self.scan_blocks
        whole = (self.latent_height, self.latent_width)
        if self.layout.scan == "whole-frame":
            return (whole,) * self.n_layers
        return tuple(default_hybrid_block(whole, layer) for layer in range(self.n_layers))

    # ---- validation & serialisation -----------------------------------------------------
    def validate(self) -> None:
        def fail(message: str) -> None:
            raise WorldModelConfigError(message)

        if self.variant not in VARIANTS:
            fail(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.action_kind not in ACTION_KINDS:
            fail(f"action_kind {self.action_kind!r} must be one of {', '.join(ACTION_KINDS)}")
        positive = ("latent_height", "latent_width", "latent_channels", "action_size")
        positive += ("d_model", "n_layers", "n_heads", "chunk_size", "window_frames")
        positive += ("ssm_state_size", "ssm_head_dim", "ssm_expand", "ssm_conv_width")
        positive += ("ssm_scan_chunk", "denoising_steps")
        for name in positive:
            if getattr(self, name) < 1:
                fail(f"{name} must be >= 1 (got {getattr(self, name)})")
        head_dim = self.d_model // self.n_heads
        if self.d_model % self.n_heads or head_dim % 2:
            fail(
                f"d_model={self.d_model} must split into n_heads={self.n_heads} heads of an "
                "even size (rotary embedding); change d_model or n_heads"
            )
        if self.has_scan and self.ssm_inner_dim % self.ssm_head_dim:
            fail(
                f"ssm_expand*d_model={self.ssm_inner_dim} must be a multiple of "
                f"ssm_head_dim={self.ssm_head_dim}; change d_model or ssm_head_dim"
            )
        if self.window_frames < 2 and self.layout.cache == "window":
            fail("window_frames must be >= 2 for causal-window (1 would see no other frame)")
        if not 0.0 <= self.clean_prefix_prob <= 1.0:
            fail(f"clean_prefix_prob must lie in [0, 1] (got {self.clean_prefix_prob})")
        if self.reward_head not in REWARD_HEADS:
            fail(f"reward_head must be one of {', '.join(REWARD_HEADS)} (got {self.reward_head!r})")
        if not 0.0 <= self.reward_class_balance <= 1.0:
            fail(f"reward_class_balance must lie in [0, 1] (got {self.reward_class_balance})")
        if self.termination_pos_weight <= 0:
            fail(f"termination_pos_weight must be > 0 (got {self.termination_pos_weight})")
        if not self.ssm_content_keys and not (self.action_keys and self.has_scan):
            fail(
                "ssm_content_keys=False makes the action keys the scan's only keys: it needs "
                "action_keys=True and a variant with a scan"
            )
        if self.ssm_tied_keys and self.ssm_content_keys:
            fail(
                "ssm_tied_keys=True reads with the write key taken from the action keys alone: "
                "it needs ssm_content_keys=False"
            )
        if self.action_key_fourier:
            if self.action_key_fourier < 0 or self.action_key_fourier % 2:
                fail(
                    f"action_key_fourier must be an even count >= 0 (got {self.action_key_fourier})"
                )
            if not self.action_keys or self.action_kind != "continuous":
                fail(
                    "action_key_fourier needs action_keys=True and continuous actions (discrete "
                    "actions already get one learned key each); set action_key_fourier=0"
                )
            if self.action_key_frequency <= 0:
                fail(f"action_key_frequency must be > 0 (got {self.action_key_frequency})")
        if self.action_key_view_degrees and (not self.action_key_fourier or self.action_size < 2):
            fail(
                "action_key_view_degrees needs Fourier action keys (action_key_fourier > 0) "
                "and a heading (cos, sin) as the action's last two components; set "
                "action_key_view_degrees=0"
            )
        if self.ssm_update not in SCAN_UPDATES:
            fail(f"ssm_update must be one of {', '.join(SCAN_UPDATES)} (got {self.ssm_update!r})")
        if self.ssm_write_gate not in SCAN_WRITE_GATES:
            fail(
                f"ssm_write_gate must be one of {', '.join(SCAN_WRITE_GATES)} "
                f"(got {self.ssm_write_gate!r})"
            )
        if self.ssm_norm not in SCAN_NORMS:
            fail(f"ssm_norm must be one of {', '.join(SCAN_NORMS)} (got {self.ssm_norm!r})")
        if self.ssm_read not in SCAN_READS:
            fail(f"ssm_read must be one of {', '.join(SCAN_READS)} (got {self.ssm_read!r})")
        if self.ssm_read == "past" and self.ssm_update != "delta":
            fail("ssm_read='past' is built for the delta rule only: set ssm_update='delta'")
        if self.ssm_input_gain not in ("dt", "unit"):
            fail(f"ssm_input_gain must be 'dt' or 'unit' (got {self.ssm_input_gain!r})")
        halflife = self.ssm_halflife_frames
        if halflife and (len(halflife) != 2 or not 0 < halflife[0] <= halflife[1]):
            fail(f"ssm_halflife_frames must be (low, high) with 0 < low <= high (got {halflife})")
        if self.scan_blocks:
            if not self.has_scan:
                fail(f"scan_blocks given but variant {self.variant!r} has no scan layer")
            if len(self.scan_blocks) != self.n_layers:
                fail(
                    f"scan_blocks has {len(self.scan_blocks)} entries, n_layers is "
                    f"{self.n_layers}: give one (b_h, b_w) per layer"
                )
            for b_h, b_w in self.scan_blocks:
                if b_h < 1 or b_w < 1 or self.latent_height % b_h or self.latent_width % b_w:
                    fail(
                        f"scan block {b_h}x{b_w} must tile the {self.latent_height}x"
                        f"{self.latent_width} latent grid exactly"
                    )
            if self.layout.scan == "whole-frame":
                whole = (self.latent_height, self.latent_width)
                if any(block != whole for block in self.scan_blocks):
                    fail(f"variant {self.variant!r} scans whole frames; use hybrid for blocks")

    def action_space(self) -> dict[str, Any]:
        """The action space in the dataset-metadata format (contract 2), for mismatch checks."""
        if self.action_kind == "discrete":
            return {"type": "discrete", "n": self.action_size}
        return {"type": "box", "shape": [self.action_size]}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["scan_blocks"] = [list(block) for block in self.scan_blocks]
        data["ssm_halflife_frames"] = list(self.ssm_halflife_frames)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldModelConfig:
        reject_unknown_fields(cls, data, WorldModelConfigError, "world model config")
        return cls(**{**LEGACY_DEFAULTS, **data})

    @classmethod
    def from_json(cls, text: str) -> WorldModelConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> WorldModelConfig:
        return dataclasses.replace(self, **changes)


def default_hybrid_block(grid: tuple[int, int], layer: int) -> tuple[int, int]:
    """Alternate small and large blocks: a quarter of the grid side, then half of it.

    On an 8x8 latent grid: 2x2, 4x4, 2x2, ... The paper mixes small and large blocks but does
    not publish per-layer values; this pattern is our choice.
    """
    divisor = 4 if layer % 2 == 0 else 2
    return tuple(_largest_divisor_at_most(side, max(1, side // divisor)) for side in grid)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, limit + 1) if n % d == 0)


def parse_scan_blocks(text: str) -> tuple[tuple[int, int], ...]:
    """'2x2,4x4,2x2,4x4' -> ((2, 2), (4, 4), (2, 2), (4, 4)) for command-line overrides."""
    blocks = []
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        try:
            b_h, b_w = (int(side) for side in item.lower().split("x"))
        except ValueError as error:
            raise WorldModelConfigError(
                f"scan block {item!r} is not of the form HxW (e.g. '2x2,4x4')"
            ) from error
        blocks.append((b_h, b_w))
    return tuple(blocks)
