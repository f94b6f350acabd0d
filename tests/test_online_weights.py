"""Converter weights: the .npz format, the legacy pickle behind its opt-in, and shape checks."""
import pickle

import numpy as np
import pytest

from online.weights import KEYS, load_weights, random_weights, save_weights


@pytest.fixture
def weights():
    return random_weights(24, 40, seed=1)  # refine width 24, projector width 40: nothing is 1024


def test_npz_round_trip_infers_widths(tmp_path, weights):
    path = tmp_path / "refine.npz"
    save_weights(path, weights)
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(KEYS)
    loaded = load_weights(path)
    assert (loaded.refine_width, loaded.projector_width) == (24, 40)
    for k in KEYS:
        assert getattr(loaded, k).dtype == np.float32
        np.testing.assert_array_equal(getattr(loaded, k), getattr(weights, k))


def _write_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("W3"), "missing key.*W3"),
    (lambda a: a.update(extra=np.zeros(3)), "unexpected key.*extra"),
    (lambda a: a.update(W2=np.zeros((40, 41), np.float32)), r"key W2 \(project_2\): shape \(40, 41\)"),
    (lambda a: a.update(b0=np.zeros(25, np.float32)), r"key b0 \(change_tmp\): shape \(25,\), expected \(24,\)"),
    (lambda a: a.update(W00=np.zeros((24, 47), np.float32)), r"key W00 \(change\)"),
    (lambda a: a.update(W0=np.zeros((47, 24), np.float32)), r"key W0 \(change_tmp\): shape \(47, 24\)"),
    (lambda a: a["W4"].__setitem__((0, 0), np.inf), "key W4: non-finite"),
    (lambda a: a.update(b4=np.zeros(32, np.int32)), "key b4: dtype int32"),
])
def test_bad_npz_names_file_and_key(tmp_path, weights, change, message):
    arrays = {k: v.copy() for k, v in weights.as_dict().items()}
    change(arrays)
    path = tmp_path / "bad.npz"
    _write_npz(path, arrays)
    with pytest.raises(ValueError, match=message) as e:
        load_weights(path)
    assert str(path) in str(e.value)


def test_object_arrays_are_refused(tmp_path, weights):
    arrays = dict(weights.as_dict())
    arrays["W1"] = np.array([None], dtype=object)
    path = tmp_path / "object.npz"
    _write_npz(path, arrays)
    with pytest.raises(ValueError, match=str(path)):
        load_weights(path)


def test_legacy_pickle_needs_opt_in(tmp_path, weights):
    path = tmp_path / "refine.pkl"
    save_weights(path, weights, legacy_pickle=True)
    with pytest.raises(ValueError, match="legacy-pickle"):
        load_weights(path)
    loaded = load_weights(path, legacy_pickle=True)
    for k in KEYS:
        np.testing.assert_array_equal(getattr(loaded, k), getattr(weights, k))


def test_legacy_pickle_of_wrong_length(tmp_path, weights):
    path = tmp_path / "short.pkl"
    with open(path, "wb") as f:
        pickle.dump([weights.W0, weights.b0], f)
    with pytest.raises(ValueError, match="list of 12 arrays.*length 2"):
        load_weights(path, legacy_pickle=True)
