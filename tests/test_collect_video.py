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


def test_upscale_nearest_reaches_the_minimum_side():
    from lsswm.collect.video import upscale_nearest

    frames = _frames(2, 70)  # 16x16
    big = upscale_nearest(frames, min_side=128)
    assert big.shape == (2, 128, 128, 3)
    np.testing.assert_array_equal(big[:, ::8, ::8], frames)
    assert upscale_nearest(frames, min_side=10) is not None
    assert upscale_nearest(frames, min_side=10).shape == frames.shape
    assert upscale_nearest(frames, factor=3).shape == (2, 48, 48, 3)


def test_label_panels_labels_each_panel_per_frame():
    from lsswm.collect.video import LABEL_STRIP, label_panels

    frames = np.concatenate([_frames(3, 10), np.zeros((3, 16, 2, 3), np.uint8), _frames(3, 200)], 2)
    out = label_panels(frames, ["truth", ["a", "b", "c"]], gap=2, min_side=64)
    assert out.shape == (3, LABEL_STRIP + 64, 4 * 34, 3)
    strip = out[:, :LABEL_STRIP]
    left, right = strip[:, :, : 4 * 16], strip[:, :, 4 * 18 :]
    assert (left > 200).any() and (right > 200).any()  # white text on both panels
    # The right panel's text changes with the frame; the left one's does not.
    assert not np.array_equal(right[0], right[1])
    np.testing.assert_array_equal(left[0], left[1])


def test_training_video_is_upscaled_and_labelled():
    from lsswm.collect.video import LABEL_STRIP
    from lsswm.worldmodel.train.video import BAR, GAP, side_by_side

    truth = np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    canvas = side_by_side(truth, truth[2:], context=2)
    # Was 34x66 per frame (68x132 px in the GIF after write_video's scale 2).
    assert canvas.shape == (6, LABEL_STRIP + 4 * (BAR + 32), 4 * (64 + GAP), 3)
    image = canvas[0, LABEL_STRIP + 4 * BAR :, : 4 * 32]
    np.testing.assert_array_equal(image[::4, ::4], truth[0])
    assert (canvas[:, :LABEL_STRIP] > 200).any()
