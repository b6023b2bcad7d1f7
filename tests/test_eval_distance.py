"""Recall against distance: places, revisit distances and binning on a hand-made trajectory."""

from __future__ import annotations

import numpy as np
import pytest

from lsswm.collect.revisits import view_distances
from lsswm.eval.distance import (
    UNSEEN,
    bin_by_distance,
    place_ids,
    revisit_distances,
    split_by_window,
)

EAST, NORTH, WEST = (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)


def hand_made_trajectory() -> tuple[np.ndarray, np.ndarray]:
    """12 frames: a context of 8 (frames 0-7), then 4 generated frames (8-11).

    frame:  0     1     2     3     4     5     6     7   | 8     9     10    11
    cell:  (1,1) (1,1) (2,1) (3,1) (3,1) (3,2) (3,2) (3,1)| (2,1) (1,1) (1,1) (5,5)
    facing: E     E     E     E     N     N     N     W   | E     E     W     E
    """
    cells = [(1, 1), (1, 1), (2, 1), (3, 1), (3, 1), (3, 2), (3, 2), (3, 1)]
    cells += [(2, 1), (1, 1), (1, 1), (5, 5)]
    facing = [EAST, EAST, EAST, EAST, NORTH, NORTH, NORTH, WEST, EAST, EAST, WEST, EAST]
    # Positions anywhere inside the cell; headings a little off-axis (still the same bin).
    pos = np.array([[x + 0.3, y + 0.6] for x, y in cells])
    direction = np.array([[dx + 0.1 * dy, dy + 0.1 * dx] for dx, dy in facing])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return pos, direction


def test_place_ids_combine_cell_and_heading():
    pos, direction = hand_made_trajectory()
    ids = place_ids(pos, direction)
    assert ids[0] == ids[1]  # same cell, same heading
    assert ids[3] != ids[4]  # same cell, turned north
    assert ids[3] != ids[7]  # same cell, facing west
    assert ids[1] == ids[9]  # a revisit
    assert ids[9] != ids[10]  # same cell, opposite heading


def test_revisit_distances_against_the_context():
    pos, direction = hand_made_trajectory()
    places = place_ids(pos, direction)
    # Frame 8 = (2,1) E, last seen in the context at frame 2 -> 6 back.
    # Frame 9 = (1,1) E, last seen at frame 1 -> 8 back.
    # Frame 10 = (1,1) W, never seen. Frame 11 = (5,5), never seen.
    distances = revisit_distances(places, query_start=8)
    assert distances.tolist() == [6, 8, UNSEEN, UNSEEN]


def test_revisit_distances_counting_generated_frames_too():
    places = np.array([0, 1, 2, 3, 1, 4, 4, 2])
    # Context = frames 0-3. With reference="all", frame 6 (place 4) counts frame 5.
    assert revisit_distances(places, 4, "context").tolist() == [3, UNSEEN, UNSEEN, 5]
    assert revisit_distances(places, 4, "all").tolist() == [3, UNSEEN, 1, 5]
    with pytest.raises(ValueError):
        revisit_distances(places, 4, "future")


def test_binning_by_distance_on_known_revisits():
    distances = np.array([1, 6, 10, 11, 30, 30, UNSEEN, 250])
    psnr = np.array([30.0, 28.0, 26.0, 20.0, 18.0, 16.0, 10.0, 12.0])
    rows = bin_by_distance(distances, {"psnr": psnr}, edges=(1, 11, 26, 101))
    by_label = {row["label"]: row for row in rows}
    assert [row["label"] for row in rows] == ["1-10", "11-25", "26-100", ">=101", "unseen"]
    assert by_label["1-10"]["count"] == 3
    assert by_label["1-10"]["psnr"] == pytest.approx(28.0)
    assert by_label["11-25"]["count"] == 1 and by_label["11-25"]["psnr"] == 20.0
    assert by_label["26-100"]["psnr"] == pytest.approx(17.0)
    assert by_label["26-100"]["psnr_std"] == pytest.approx(1.0)
    assert by_label[">=101"]["hi"] is None and by_label[">=101"]["psnr"] == 12.0
    assert by_label["unseen"]["count"] == 1 and by_label["unseen"]["psnr"] == 10.0
    assert sum(row["count"] for row in rows) == len(distances)


def test_empty_bins_are_kept_for_aligned_tables():
    rows = bin_by_distance(np.array([3]), {"ssim": np.array([0.5])}, edges=(1, 11, 26))
    assert [row["count"] for row in rows] == [1, 0, 0, 0]
    assert rows[1]["ssim"] is None


def test_split_by_window():
    distances = np.array([1, 10, 11, 400, UNSEEN])
    values = {"psnr": np.array([30.0, 28.0, 20.0, 18.0, 5.0])}
    split = split_by_window(distances, values, window=10)
    assert split["within_window"] == {"count": 2, "psnr": 29.0}
    assert split["beyond_window"] == {"count": 2, "psnr": 19.0}
    assert split["unseen"] == {"count": 1, "psnr": 5.0}


def test_view_distances_match_within_ten_degrees_only():
    # Turning in place at 18.4 degrees per step: 20 steps later the heading is 8 degrees off
    # (the same view); one step later it is 18.4 degrees off (another view).
    headings = np.radians(np.arange(25) * 18.4)
    cells = np.zeros((25, 2), np.int64)
    distances = view_distances(cells, headings, query_start=20)
    assert distances.tolist() == [20, 20, 20, 20, 20]
    moved = cells.copy()
    moved[20:] = 1  # another cell: never seen
    assert (view_distances(moved, headings, 20) == UNSEEN).all()
    assert view_distances(cells, headings, 20, tolerance_degrees=5).tolist() == [UNSEEN] * 5


def test_bins_with_episodes_get_bootstrap_intervals():
    distances = np.array([1, 1, 1, 1, 30, 30])
    values = {"psnr": np.array([10.0, 12.0, 20.0, 22.0, 5.0, 7.0])}
    episodes = np.array([0, 0, 1, 1, 0, 1])
    rows = bin_by_distance(distances, values, edges=(1, 11), episodes=episodes)
    near = rows[0]
    assert near["episodes"] == 2 and near["psnr_by_episode"] == {0: 11.0, 1: 21.0}
    assert near["psnr"] == pytest.approx(16.0)
    assert near["psnr_ci95"][0] >= 11.0 and near["psnr_ci95"][1] <= 21.0
