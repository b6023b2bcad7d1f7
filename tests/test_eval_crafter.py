"""Crafter inventory recall on hand-made frames drawn with crafter's own item pictures."""

from __future__ import annotations

import numpy as np
import pytest

from lsswm.eval.crafter_recall import (
    CRAFTER_ITEMS,
    VITALS,
    cells_showing_items,
    crafter_tables,
    inventory_layout,
    item_drawings,
    score_inventory,
)
from lsswm.eval.episodes import EvalEpisode

WOOD, SAPLING, STONE = (CRAFTER_ITEMS.index(n) for n in ("wood", "sapling", "stone"))


def test_item_order_and_layout_follow_crafter():
    import crafter.constants

    assert tuple(crafter.constants.items) == CRAFTER_ITEMS
    region, cells = inventory_layout(64)
    # 64 // 9 = 7-pixel cells; 2 inventory rows under 7 map rows; no border at 64 px.
    assert region == (49, 63, 0, 63)
    assert cells[0] == (49, 56, 0, 7)
    assert cells[9] == (56, 63, 0, 7)  # item 9 opens the second row
    assert cells[WOOD] == (49, 56, 35, 42)


def draw(inventory: dict[int, bool], background: int = 90) -> np.ndarray:
    """A 64x64 frame: a grey map, a black inventory strip with the given items drawn."""
    frame = np.full((64, 64, 3), background, np.uint8)
    region, cells = inventory_layout(64)
    y0, y1, x0, x1 = region
    frame[y0:y1, x0:x1] = 0
    frame[63, :] = 0
    frame[:, 63] = 0
    drawings = item_drawings(64)
    for item, present in inventory.items():
        if present:
            r0, r1, c0, c1 = cells[item]
            frame[r0:r1, c0:c1] = drawings[item]
    return frame


def vitals() -> dict[int, bool]:
    return {i: True for i in range(4)}


def test_presence_is_read_from_pixels():
    frames = np.stack([draw(vitals()), draw(vitals() | {WOOD: True, STONE: True})])
    shown = cells_showing_items(frames)
    assert shown[0].tolist() == [True] * 4 + [False] * 12
    assert shown[1, WOOD] and shown[1, STONE] and not shown[1, SAPLING]


def hand_made_episode() -> tuple[EvalEpisode, list[np.ndarray]]:
    """Context of 6 frames: wood gathered at frame 2, a sapling at frame 4. Truth during the
    4 generated frames: wood kept throughout, the sapling gone after generated frame 1 (it
    was planted), stone appears at generated frame 2.

    The "model" keeps wood for 3 of 4 frames, keeps the sapling (never drops it), and never
    shows the stone."""
    truth_items = []
    for t in range(10):
        items = vitals() | {WOOD: t >= 2, SAPLING: 4 <= t <= 6, STONE: t >= 8}
        truth_items.append(items)
    frames = np.stack([draw(items) for items in truth_items])
    inventory = np.zeros((10, 16), np.int64)
    for t, items in enumerate(truth_items):
        for item, present in items.items():
            inventory[t, item] = int(present)
    episode = EvalEpisode(
        name="hand",
        frames=frames,
        actions=np.zeros(10, np.int64),
        context=6,
        state={"inventory": inventory},
    )
    model_items = [
        vitals() | {WOOD: True, SAPLING: True},
        vitals() | {WOOD: True, SAPLING: True},
        vitals() | {WOOD: False, SAPLING: True},
        vitals() | {WOOD: True, SAPLING: True},
    ]
    generated = np.stack([draw(items) for items in model_items])
    return episode, [generated]


def test_inventory_scores_on_a_hand_made_episode():
    episode, generated = hand_made_episode()
    scores = score_inventory([episode], generated)
    overall = scores["overall"]
    # Gathered in the context and still held in truth: wood on 4 frames (model shows 3) and
    # the sapling on frame 6 only (shown): 4 kept of 5.
    assert overall["kept_pairs"] == 5
    assert overall["kept"] == pytest.approx(4 / 5)
    # Truth-absent (frame, item) pairs over the 12 gatherable items: 4*12 - held pairs
    # (wood 4 + sapling 1 + stone 2 = 7) = 41; the model shows the sapling on 3 of them.
    assert overall["spurious"] == pytest.approx(3 / 41)
    # Wrong cells: wood once, sapling 3 times, stone twice, of 48.
    assert overall["presence_accuracy"] == pytest.approx(1 - 6 / 48)
    # Changes inside the generated part: sapling disappears at frame 7 (3 frames after,
    # model wrong on all), stone appears at frame 8 (2 frames, wrong on both).
    assert overall["change_frames"] == 5
    assert overall["changes_followed"] == pytest.approx(0.0)
    assert scores["per_episode"][0]["items_gathered_in_context"] == ["sapling", "wood"]
    # Frames since gathered: wood (gathered at 2) seen at 6..9 -> 4..7; sapling (4) at 6 -> 2.
    by_label = {row["label"]: row for row in scores["kept_by_distance"]}
    assert by_label["1-10"]["count"] == 5
    # The map above the inventory is identical, so the inventory PSNR is what differs.
    assert overall["inv_psnr"] < 100
    tables = crafter_tables([{"name": "m", "variant": "hybrid", **scores}])
    assert tables[0]["rows"][0][:2] == ["m", "hybrid"]


def test_perfect_generation_scores_perfectly():
    episode, _ = hand_made_episode()
    scores = score_inventory([episode], [episode.truth])
    overall = scores["overall"]
    assert overall["kept"] == 1.0 and overall["spurious"] == 0.0
    assert overall["presence_accuracy"] == 1.0 and overall["changes_followed"] == 1.0
    assert overall["inv_ssim"] == pytest.approx(1.0)


@pytest.mark.slow
def test_crafter_recall_command_end_to_end(tmp_path, capsys, tiny_frame_model):
    import json

    from lsswm.cli.main import main
    from lsswm.worldmodel.checkpoint import save_world_model

    path = tmp_path / "crafter.safetensors"  # Crafter: 64x64 frames, 17 actions
    save_world_model(path, tiny_frame_model(image_size=64, action_size=17))
    out = tmp_path / "out"
    command = "eval crafter-recall --context 60 --generate 5 --episodes 1 --device cpu"
    assert main([*command.split(), "--ckpt", str(path), "--out", str(out), "--no-progress"]) == 0
    results = json.loads((out / "crafter_recall.json").read_text())
    assert results["suite"] == "crafter-recall"
    assert results["inventory_region"] == {"row0": 49, "row1": 63, "col0": 0, "col1": 63}
    overall = results["models"][0]["overall"]
    assert overall["frames"] == 5 and 0 <= overall["presence_accuracy"] <= 1
    # The accuracy counts (frame, item) cells: 5 frames of the non-vital items.
    matched = overall["presence_accuracy"] * 5 * (len(CRAFTER_ITEMS) - VITALS)
    assert matched == pytest.approx(round(matched))
    # The context gathers items, so `kept` is measured: every gathered item in every frame.
    episode = results["models"][0]["per_episode"][0]
    assert episode["items_gathered_in_context"]
    assert overall["kept_pairs"] == 5 * len(episode["items_gathered_in_context"])
    assert overall["kept"] is not None and overall["spurious"] is not None
    assert episode["inv_psnr"] == pytest.approx(overall["inv_psnr"])
    assert "Crafter inventory recall" in capsys.readouterr().out
