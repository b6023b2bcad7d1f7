"""Crafter inventory recall: does a generated frame keep the inventory the context built up?

Crafter draws the inventory under the map (crafter/env.py ``Env.render`` with
engine.py ``ItemView``): the frame is a grid of ``unit = size // view`` pixel cells
(view 9: 7 px at size 64) offset by ``border = (size - unit * view) // 2``; the bottom
``item_rows = ceil(16 / view)`` rows of cells (2) are the inventory and the rest the local
map. Item i of crafter's item order (health, food, drink, energy, sapling, wood, stone, coal,
iron, diamond, wood/stone/iron pickaxe, wood/stone/iron sword) always owns cell
(column i % view, row i // view); an item with count 0 leaves its cell black, otherwise its
texture and count are drawn. At 64x64 the inventory is rows 49..62, columns 0..62.

Scores per generated frame:
* ``inv_psnr`` / ``inv_ssim``: PSNR and SSIM of the inventory region against the ground truth.
* Item presence per cell: a cell *shows an item* when it is closer (mean squared error) to
  that item's own drawing than to an empty (black) cell. The drawing is rendered by
  crafter's ``ItemView`` with the game's textures at the frame's size (count 1; the count
  digit is a small part of the cell). The ground truth presence comes from
  ``state/inventory`` > 0 when recorded, else from the same rule on the real frame. Only the 12 gatherable items count (the four vitals are always
  drawn). From these: ``presence_accuracy`` (generated presence equals the truth),
  ``kept`` (items gathered during the context and still held: fraction the model still
  shows), ``spurious`` (items absent in truth that the model shows), ``changes_followed``
  (after an item appears or disappears during the generated part: fraction of later frames
  where the model agrees), and ``kept`` binned by frames since the item was gathered.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.eval.distance import DEFAULT_DISTANCE_EDGES, bin_by_distance, last_filled_bin
from lsswm.eval.episodes import EvalEpisode
from lsswm.eval.metrics import psnr, ssim
from lsswm.eval.tables import make_table

# crafter.constants.items order (data.yaml); checked against crafter in the tests.
CRAFTER_ITEMS = (
    "health",
    "food",
    "drink",
    "energy",
    "sapling",
    "wood",
    "stone",
    "coal",
    "iron",
    "diamond",
    "wood_pickaxe",
    "stone_pickaxe",
    "iron_pickaxe",
    "wood_sword",
    "stone_sword",
    "iron_sword",
)
VITALS = 4  # health, food, drink, energy: always drawn, not gathered
CRAFTER_VIEW = 9


def inventory_layout(
    size: int = 64, view: int = CRAFTER_VIEW, items: int = len(CRAFTER_ITEMS)
) -> tuple[tuple[int, int, int, int], list[tuple[int, int, int, int]]]:
    """The inventory region and every item's cell as (row0, row1, col0, col1), end-exclusive,
    following crafter's render geometry."""
    unit = size // view
    item_rows = math.ceil(items / view)
    border = (size - unit * view) // 2
    top = border + unit * (view - item_rows)
    region = (top, top + unit * item_rows, border, border + unit * view)
    cells = []
    for index in range(items):
        column, row = index % view, index // view
        y, x = top + row * unit, border + column * unit
        cells.append((y, y + unit, x, x + unit))
    return region, cells


def crop(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    return frames[..., y0:y1, x0:x1, :]


@functools.lru_cache(maxsize=4)
def item_drawings(size: int = 64, view: int = CRAFTER_VIEW) -> np.ndarray:
    """(items, unit, unit, 3) uint8: each item's inventory cell as crafter draws it (count 1)."""
    from lsswm.envs.legacy_gym import import_gym_quietly

    import_gym_quietly()  # crafter imports the old gym package at import time
    import crafter.constants
    import crafter.engine

    unit = size // view
    rows = math.ceil(len(CRAFTER_ITEMS) / view)
    textures = crafter.engine.Textures(crafter.constants.root / "assets")
    drawer = crafter.engine.ItemView(textures, [view, rows])
    drawings = np.zeros((len(CRAFTER_ITEMS), unit, unit, 3), np.uint8)
    for index, item in enumerate(CRAFTER_ITEMS):
        inventory = {name: int(name == item) for name in CRAFTER_ITEMS}
        canvas = drawer(inventory, np.array([unit, unit])).transpose(1, 0, 2)  # (x, y) -> rows
        row, column = divmod(index, view)
        drawings[index] = canvas[row * unit : (row + 1) * unit, column * unit : (column + 1) * unit]
    return drawings


def cells_showing_items(frames: np.ndarray) -> np.ndarray:
    """(N, items) bool: which inventory cells show their item, from pixels (N, H, W, 3)."""
    frames = np.asarray(frames)
    _, cells = inventory_layout(frames.shape[-3])
    drawings = item_drawings(frames.shape[-3]).astype(np.float64)
    shown = np.zeros((len(frames), len(cells)), dtype=bool)
    for index, box in enumerate(cells):
        cell = crop(frames, box).astype(np.float64).reshape(len(frames), -1)
        to_item = ((cell - drawings[index].reshape(1, -1)) ** 2).mean(axis=1)
        to_empty = (cell**2).mean(axis=1)
        shown[:, index] = to_item < to_empty
    return shown


def true_presence(episode: EvalEpisode) -> np.ndarray:
    """(T, items) bool for every frame of the episode: state/inventory > 0, else pixels."""
    inventory = episode.state.get("inventory")
    if inventory is not None and inventory.shape[-1] == len(CRAFTER_ITEMS):
        return np.asarray(inventory) > 0
    return cells_showing_items(episode.frames)


def score_inventory(
    episodes: list[EvalEpisode],
    generated: list[np.ndarray],
    edges: tuple[float, ...] = DEFAULT_DISTANCE_EDGES,
) -> dict[str, Any]:
    """Every number of the Crafter inventory-recall suite for one model."""
    inv_psnr, inv_ssim, per_episode = [], [], []
    matches, kept, spurious, followed = [], [], [], []
    kept_distance = []
    for episode, frames in zip(episodes, generated, strict=True):
        region, _ = inventory_layout(episode.frames.shape[1])
        truth = episode.truth[: len(frames)]
        p = psnr(crop(frames, region), crop(truth, region))
        s = ssim(crop(frames, region), crop(truth, region))
        inv_psnr.append(p)
        inv_ssim.append(s)
        presence = true_presence(episode)[:, VITALS:]
        truth_now = presence[episode.context : episode.context + len(frames)]
        shown = cells_showing_items(frames)[:, VITALS:]
        matches.append((shown == truth_now).ravel())
        spurious.append(shown[~truth_now])
        # Items gathered during the context: absent at its start, held at its end.
        context = presence[: episode.context]
        gathered = ~context[0] & context[-1]
        first_held = np.argmax(context, axis=0)  # first context frame holding each item
        for item in np.flatnonzero(gathered):
            still = truth_now[:, item]
            kept.append(shown[still, item])
            times = episode.context + np.arange(len(frames))
            kept_distance.append((times - first_held[item])[still])
        # Changes inside the generated part: frames after each flip, until the next one.
        full = presence[episode.context - 1 : episode.context + len(frames)]
        for item in range(full.shape[1]):
            flips = np.flatnonzero(full[1:, item] != full[:-1, item])
            for k, flip in enumerate(flips):
                end = flips[k + 1] if k + 1 < len(flips) else len(frames)
                followed.append(shown[flip:end, item] == truth_now[flip:end, item])
        per_episode.append(
            {
                "name": episode.name,
                "seed": episode.seed,
                "context": episode.context,
                "generated": len(frames),
                "inv_psnr": float(p.mean()),
                "inv_ssim": float(s.mean()),
                "items_gathered_in_context": [
                    CRAFTER_ITEMS[VITALS + i] for i in np.flatnonzero(gathered)
                ],
            }
        )

    def rate(parts: list[np.ndarray]) -> float | None:
        joined = np.concatenate(parts) if parts else np.zeros(0)
        return float(joined.mean()) if len(joined) else None

    kept_values = np.concatenate(kept).astype(np.float64) if kept else np.zeros(0)
    kept_distances = np.concatenate(kept_distance) if kept_distance else np.zeros(0, np.int64)
    return {
        "overall": {
            "frames": int(sum(len(g) for g in generated)),
            "inv_psnr": float(np.concatenate(inv_psnr).mean()),
            "inv_ssim": float(np.concatenate(inv_ssim).mean()),
            "presence_accuracy": rate(matches),
            "kept": rate(kept),
            "kept_pairs": len(kept_values),
            "spurious": rate(spurious),
            "changes_followed": rate(followed),
            "change_frames": int(sum(len(f) for f in followed)),
        },
        "kept_by_distance": bin_by_distance(kept_distances, {"kept": kept_values}, edges),
        "per_episode": per_episode,
        "per_frame": {
            "inv_psnr": [p.tolist() for p in inv_psnr],
            "inv_ssim": [s.tolist() for s in inv_ssim],
        },
    }


def crafter_tables(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        o = record["overall"]
        rows.append(
            [
                record["name"],
                record["variant"],
                o["inv_ssim"],
                o["inv_psnr"],
                o["presence_accuracy"],
                o["kept"],
                o["spurious"],
                o["changes_followed"],
                o["frames"],
            ]
        )
    columns = ["model", "variant", "inv SSIM ↑", "inv PSNR ↑", "presence acc ↑", "kept ↑"]
    columns += ["spurious ↓", "changes followed ↑", "frames"]
    tables = [
        make_table("Crafter inventory recall (inventory region of generated frames)", columns, rows)
    ]
    if records:
        bins = records[0]["kept_by_distance"]
        last = last_filled_bin([r["kept_by_distance"] for r in records])
        table_rows = []
        for index, row in enumerate(bins[: last + 1]):  # "unseen" is empty by construction
            cells = [row["label"], row["count"]]
            cells += [r["kept_by_distance"][index]["kept"] for r in records]
            table_rows.append(cells)
        columns = ["frames since gathered", "pairs"] + [r["name"] for r in records]
        tables.append(
            make_table("Gathered items still shown, by frames since gathered", columns, table_rows)
        )
    return tables


def run_crafter_suite(
    checkpoints: list[str],
    episodes: list[EvalEpisode],
    spec: Any,
    out: str | Path,
    *,
    tokenizer: str | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    denoising_steps: int | None = None,
    seed: int = 0,
    videos: int = 2,
    video_format: str = "mp4",
    settings: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate, score and write ``crafter_recall.json`` (+ plot, videos) into ``out``."""
    from lsswm.eval.generation import evaluate_checkpoints
    from lsswm.eval.plots import plot_metric_vs_distance
    from lsswm.eval.results import new_results, seed_overlap_notes, write_results
    from lsswm.eval.videos import write_episode_videos

    records, kept = evaluate_checkpoints(
        checkpoints,
        episodes,
        lambda loaded, seen, generated: score_inventory(seen, generated),
        tokenizer=tokenizer,
        device=device,
        batch_size=batch_size,
        denoising_steps=denoising_steps,
        seed=seed,
        keep=videos,
        progress=progress,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = new_results("crafter-recall", "Crafter inventory recall", settings or {}, device)
    results["episodes"] = spec.to_json(evaluated=episodes)
    results["inventory_region"] = dict(
        zip(
            ("row0", "row1", "col0", "col1"),
            inventory_layout(episodes[0].frames.shape[1])[0],
            strict=False,
        )
    )
    results["models"] = records
    results["tables"] = crafter_tables(records)
    results["notes"] += seed_overlap_notes(records)
    if records and any(r["overall"]["kept_pairs"] for r in records):
        path = plot_metric_vs_distance(
            {r["name"]: r["kept_by_distance"] for r in records},
            "kept",
            out / "crafter_recall_kept_vs_distance.png",
            "Gathered items still drawn in generated frames, by frames since gathered",
        )
        results["plots"].append(path.name)
    else:
        results["notes"].append(
            "no item was gathered during the contexts: the kept rate is undefined; use a "
            "longer --context or the crafter-gather policy"
        )
    results["videos"] += write_episode_videos(
        out, "crafter_recall", episodes[:videos], kept, video_format
    )
    write_results(out / "crafter_recall.json", results)
    return results
