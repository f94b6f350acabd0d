"""Faults of the online stage (tools/pred_v2.py; docs/faults.md): a resumed run equals an uninterrupted
one to the byte, bad or empty inputs and unwritable folders are one-line errors before any frame is
computed, killed runs leave nothing that lasts, two runs never share a folder."""
import fcntl
import sys

import numpy as np
import pytest

from faults import assert_one_line_error, hidden_debris, run
from online import OnlineModel, refine_released
from pose_formats.atomic import LOCK_NAME
from test_online_cli import layout  # noqa: F401  (the fixture: a results folder of actions 2 and 5)

OUTPUTS = ("result{a}_refined_norm.csv", "result{a}_refined_unnorm.csv")


def pred_v2(layout, *args, **faults):
    return run([sys.executable, "tools/pred_v2.py", layout["results"], "--weights", layout["weights_path"],
                "--gt-dir", layout["gt"], "--no-progress", *args], **faults)


def outputs(folder, a):
    return [(folder / name.format(a=a)).read_bytes() for name in OUTPUTS]


def test_released_mode_gives_an_action_the_same_bytes_alone_and_in_the_full_set(layout):
    done = pred_v2(layout, "--actions", "2,5")
    assert done.returncode == 0, done.stderr
    together = {a: outputs(layout["results"], a) for a in (2, 5)}
    for a in (2, 5):
        done = pred_v2(layout, "--actions", str(a), "--redo")
        assert done.returncode == 0, done.stderr
        assert outputs(layout["results"], a) == together[a], f"action {a} alone differs from the full run"


def test_a_resumed_run_equals_an_uninterrupted_one_and_reports_the_mean_over_all(layout, tmp_path):
    done = pred_v2(layout, "--actions", "2,5")
    assert done.returncode == 0, done.stderr
    whole = {a: outputs(layout["results"], a) for a in (2, 5)}
    mean_line = done.stdout.strip().splitlines()[-1]
    assert mean_line.startswith("mean over 2 actions: MPJPE")
    for a in (5,):   # a run killed after action 2: action 5's files never written
        for name in OUTPUTS + ("result{a}_refined.json",):
            (layout["results"] / name.format(a=a)).unlink()
    resumed = pred_v2(layout, "--actions", "2,5")
    assert resumed.returncode == 0 and "already corrected" in resumed.stdout
    assert {a: outputs(layout["results"], a) for a in (2, 5)} == whole
    # the same mean, over both actions, not the one computed now
    assert resumed.stdout.strip().splitlines()[-1] == mean_line.replace(
        "2 actions:", "2 actions (1 corrected by an earlier run):")


def test_the_rows_engine_scans_each_sequence_alone(layout):
    """In-process, both orders and subsets: one sequence's poses do not depend on the others."""
    model = OnlineModel(layout["weights"], np.float32)
    rng = np.random.default_rng(3)
    xs = [rng.random((n, 48)).astype(np.float32) for n in (30, 7, 19)]
    qs = [rng.random((n, 32)).astype(np.float32) for n in (30, 7, 19)]
    full = refine_released(model, xs, qs)
    for i in range(3):
        assert refine_released(model, xs[i:i + 1], qs[i:i + 1])[0].tobytes() == full[i].tobytes()


@pytest.mark.parametrize("mode", ["released", "independent", "paper"])
def test_empty_inputs_are_a_one_line_error(layout, mode):
    for name in ("result5_norm.csv", "result5_2d_norm.csv"):
        (layout["results"] / name).write_text("")
    done = pred_v2(layout, "--actions", "2,5", "--mode", mode)
    assert_one_line_error(done, layout["results"] / "result5_norm.csv", "no frames")
    assert not list(layout["results"].glob("result*_refined*")) and not list(layout["results"].glob("*online*"))


def test_a_huge_input_value_is_blamed_on_its_input_file(layout):
    path = layout["results"] / "result5_2d_norm.csv"
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[7] = "1e30"
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    done = pred_v2(layout, "--actions", "5")
    assert_one_line_error(done, f"{path}:4: field 8 (v7)", "1e30")


def test_an_unwritable_results_folder_is_refused_before_computing(layout):
    done = pred_v2(layout, "--actions", "2,5", read_only=layout["results"])
    assert_one_line_error(done, layout["results"])
    assert "Read-only file system" in done.stderr or "Permission denied" in done.stderr
    assert "frames in" not in done.stdout      # before the correction started


def test_a_full_disk_names_the_file_and_leaves_no_partial_output(layout):
    done = pred_v2(layout, "--actions", "2", full_disk=True)
    assert_one_line_error(done, layout["results"] / "result2_refined_norm.csv")
    assert not list(layout["results"].glob("result2_refined*")) and hidden_debris(layout["results"]) == []


def test_temporary_files_of_a_killed_run_are_cleaned_by_the_next(layout):
    stale = layout["results"] / ".result2_refined_norm.csv.k1ll3d.tmp"
    stale.write_text("1,2,3\n")
    done = pred_v2(layout, "--actions", "2")
    assert done.returncode == 0, done.stderr
    assert hidden_debris(layout["results"]) == []


def test_a_second_run_into_a_folder_in_use_is_refused(layout):
    with open(layout["results"] / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)    # as a running test_all.sh, pred_v2.py or eval_h36m.py holds it
        done = pred_v2(layout, "--actions", "2")
    assert_one_line_error(done, layout["results"], "in use by another run")
    assert not (layout["results"] / "result2_refined_norm.csv").exists()
    assert pred_v2(layout, "--actions", "2").returncode == 0     # free again

