"""The one video writer: frames survive the round trip, episodes are tiled side by side."""

from __future__ import annotations

import numpy as np
import pytest

from lsswm.collect.video import tile_episodes, write_video


def _frames(length: int, value: int) -> np.ndarray:
    frames = np.zeros((length, 16, 16, 3), dtype=np.uint8)
    frames[..., 0] = value
    frames[:, :, :, 1] = np.arange(length, dtype=np.uint8)[:, None, None] * 10
    return frames


def test_gif_round_trip_is_exact(tmp_path):
    import imageio.v3 as iio

    frames = _frames(5, 200)
    path = write_video(tmp_path / "clip.gif", frames, fps=4)
    read = iio.imread(path, index=None)[..., :3]
    assert read.shape == frames.shape
    np.testing.assert_array_equal(read, frames)
    assert not list(tmp_path.glob(".tmp-*"))


def test_mp4_has_every_frame_padded_to_macro_blocks(tmp_path):
    import imageio.v3 as iio

    frames = _frames(6, 120)
    path = write_video(tmp_path / "clip.mp4", frames, fps=4, scale=2)
    assert path.suffix == ".mp4"
    read = iio.imread(path, index=None)
    assert read.shape == (6, 32, 32, 3)


def test_tiling_holds_the_last_frame_of_shorter_episodes():
    tiled = tile_episodes([_frames(3, 50), _frames(5, 90)], gap=2)
    assert tiled.shape == (5, 16, 16 + 2 + 16, 3)
    np.testing.assert_array_equal(tiled[4, :, :16], _frames(3, 50)[-1])
    np.testing.assert_array_equal(tiled[4, :, 18:], _frames(5, 90)[-1])


def test_bad_frames_are_refused(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.gif", np.zeros((2, 8, 8, 3), dtype=np.float32))
