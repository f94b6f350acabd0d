"""ImageDataLstm and ImageData inside real Caffe nets, on images the test writes with OpenCV; ListLabels, the
same lists without their images."""
import time

import cv2
import numpy as np
import pytest

caffe = pytest.importorskip("caffe")

from caffe_nets import make_net, python_layer  # noqa: E402

N_LINES = 12


@pytest.fixture
def listed_images(tmp_path):
    """12 random BGR images of 30x40 and a 2D+3D list file whose clip marker is 0 every 5 lines."""
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    images, lines = [], []
    labels = rng.uniform(0, 1, size=(N_LINES, 81)).astype(np.float32)
    labels[:, 80] = [0 if i % 5 == 0 else 1 for i in range(N_LINES)]
    for i in range(N_LINES):
        image = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "img" / f"{i}.png"), image)
        images.append(image)
        lines.append(f"img/{i}.png " + ",".join(f"{v:.9g}" for v in labels[i]))
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, np.array(images), labels


def _data_net(tmp_path, params, layer="ImageDataLstm"):
    source = tmp_path / "list.txt"
    text = python_layer("data", "caffe_layers.data", layer, [], ["data", "label"],
                        param_str=f"source: {source}; root_folder: {tmp_path}; new_height: 24; new_width: 20; {params}")
    return make_net(tmp_path, text, name=f"data_{abs(hash(params))}.prototxt")


def _caffe_transform(image):
    """Independent float64 version of the transform: bilinear resize to 24x20, (p - 128) / 256, CHW."""
    resized = cv2.resize(image, (20, 24), interpolation=cv2.INTER_LINEAR).astype(np.float64)
    return ((resized - 128.0) / 256.0).transpose(2, 0, 1)


def test_in_order_batches_wrap_around_with_pixels_as_caffe(listed_images):
    tmp_path, images, labels = listed_images
    net = _data_net(tmp_path, "batch_size: 5")
    for batch in range(4):                        # 20 items from 12 lines: wraps once
        out = net.forward()
        lines = [(5 * batch + k) % N_LINES for k in range(5)]
        np.testing.assert_array_equal(out["label"], labels[lines])
        expected = np.stack([_caffe_transform(images[i]) for i in lines])
        np.testing.assert_allclose(out["data"], expected, atol=1e-6)


def test_channels_stay_bgr(tmp_path):
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 0] = 255                            # OpenCV order: B, G, R
    cv2.imwrite(str(tmp_path / "blue.png"), blue)
    (tmp_path / "list.txt").write_text("blue.png " + ",".join(["0.5"] * 80 + ["0"]) + "\n")
    data = _data_net(tmp_path, "batch_size: 1").forward()["data"]
    np.testing.assert_allclose(data[0, :, 0, 0], [(255 - 128) / 256, -128 / 256, -128 / 256])


def test_shuffle_batch_starts_at_random_lines_and_opens_a_clip(listed_images):
    tmp_path, _, labels = listed_images
    net = _data_net(tmp_path, "batch_size: 5; is_shuffle_batch: true; seed: 3")
    starts = set()
    for _ in range(8):
        got = net.forward()["label"]
        start = int(np.flatnonzero(np.all(labels[:, :80] == got[0, :80], axis=1))[0])
        starts.add(start)
        lines = [(start + k) % N_LINES for k in range(5)]
        np.testing.assert_array_equal(got[1:], labels[lines[1:]])    # consecutive lines
        assert got[0, 80] == 0                                      # first item opens a clip
    assert len(starts) > 2


def test_batches_are_prepared_ahead(listed_images):
    tmp_path, _, _ = listed_images
    net = _data_net(tmp_path, "batch_size: 5; prefetch: 3")
    layer = net.layers[list(net._layer_names).index("data")]
    deadline = time.time() + 10
    while layer.batches._ready.qsize() < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert layer.batches._ready.qsize() == 3      # filled before the first forward asked


def test_image_data_reads_2d_only_lists(tmp_path):
    image = np.full((16, 16, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    (tmp_path / "list.txt").write_text("a.png " + ",".join(["0.25"] * 32 + ["0"]) + "\n")
    out = _data_net(tmp_path, "batch_size: 3", layer="ImageData").forward()
    assert out["label"].shape == (3, 33) and np.all(out["data"] == 0)


@pytest.mark.parametrize("bad_line, message", [
    ("img/0.png " + ",".join(["0.5"] * 80), r"list.txt:2: expected 81 values, found 80"),
    ("img/0.png " + ",".join(["0.5"] * 79 + ["nan", "1"]), r"list.txt:2: value 80 is not finite"),
    ("img/missing.png " + ",".join(["0.5"] * 80 + ["1"]), r"list.txt:2: image 'img/missing.png' not found"),
])
def test_bad_list_lines_fail_naming_file_and_line(listed_images, bad_line, message):
    """Bad values fail at set-up; a missing image when the first batch that holds it is read."""
    tmp_path, _, _ = listed_images
    good = (tmp_path / "list.txt").read_text().splitlines()
    (tmp_path / "list.txt").write_text("\n".join([good[0], bad_line] + good[2:]) + "\n")
    with pytest.raises(Exception, match=message):
        _data_net(tmp_path, "batch_size: 5").forward()


def test_unknown_and_ill_typed_params_name_the_key(listed_images):
    tmp_path, _, _ = listed_images
    with pytest.raises(Exception, match="layer 'ImageDataLstm': unknown param 'batchsize'"):
        _data_net(tmp_path, "batchsize: 5")
    with pytest.raises(Exception, match="layer 'ImageDataLstm': param 'batch_size' must be int"):
        _data_net(tmp_path, "batch_size: five")


def _labels_net(tmp_path, params):
    text = python_layer("labels", "caffe_layers.data", "ListLabels", [], ["label"],
                        param_str=f"source: {tmp_path / 'list.txt'}; {params}")
    return make_net(tmp_path, text, caffe.TRAIN, name=f"labels_{abs(hash(params))}.prototxt")


def test_list_labels_reads_every_line_once_a_pass_and_no_image(listed_images):
    tmp_path, _, labels = listed_images
    for image in (tmp_path / "img").iterdir():
        image.unlink()                       # a label-only layer never opens them
    net = _labels_net(tmp_path, "batch_size: 4; seed: 2")
    passes = [np.concatenate([net.forward()["label"].copy() for _ in range(N_LINES // 4)]) for _ in range(2)]
    for got in passes:
        order = [int(np.flatnonzero(np.all(labels == row, axis=1))[0]) for row in got]
        assert sorted(order) == list(range(N_LINES))          # a permutation of the list
    assert not np.array_equal(passes[0], passes[1])           # reshuffled at the wrap
    assert not np.array_equal(passes[0], labels)


def test_list_labels_resumes_its_sequence(listed_images, monkeypatch):
    """A resumed run (HPM_START_ITERATION, set by tools/train.sh) draws what the uninterrupted run drew there."""
    tmp_path, _, _ = listed_images
    whole = _labels_net(tmp_path, "batch_size: 5; seed: 4")
    drawn = [whole.forward()["label"].copy() for _ in range(7)]
    monkeypatch.setenv("HPM_START_ITERATION", "4")
    resumed = _labels_net(tmp_path, "batch_size: 5; seed: 4")
    for expected in drawn[4:]:
        np.testing.assert_array_equal(resumed.forward()["label"], expected)


def test_list_labels_bad_source_names_it(tmp_path):
    with pytest.raises(Exception, match="layer ListLabels: param 'source': list file .*nowhere.txt' not found"):
        make_net(tmp_path, python_layer("labels", "caffe_layers.data", "ListLabels", [], ["label"],
                                        param_str=f"source: {tmp_path / 'nowhere.txt'}"), caffe.TRAIN)
