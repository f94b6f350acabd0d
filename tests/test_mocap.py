"""Real motion capture (pose_formats/mocap): readers and forward kinematics against hand-computed
poses, plausibility of the packaged clips, retargeting and resampling. The packaged
files come from `make mocap` (which `make test` runs)."""
import io
import os
import zipfile

import c3d
import numpy as np
import pytest

from pose_formats.mocap import catalogue as cat
from pose_formats.mocap.bvh import parse_bvh
from pose_formats.mocap.c3dfile import read_c3d
from pose_formats.mocap.csm import hip_joint_centres, parse_csm
from pose_formats.mocap.holosoma import joint_names
from pose_formats.mocap.retarget import ANKLE_HEIGHT_MM, bone_directions, clip_on_subject, resample
from pose_formats.skeleton import BONE_MM, JOINTS, LEFT_RIGHT_PAIRS, PARENTS

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 2 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    JOINT Arm
    {
      OFFSET 1 0 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 0 2
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.02
1 2 3  0 0 90  90 0 0  90 0 0
0 0 0  90 90 0  0 0 0  0 0 0
"""


def bones(poses):
    return np.linalg.norm(poses[:, 1:] - poses[:, PARENTS[1:]], axis=-1)


def knees_point_forward(poses):
    """Median over frames and legs of how far (mm) each knee lies ahead of its hip-ankle midpoint; the
    body's forward is (left hip - right hip) x (thorax - pelvis). Negative for a mirrored skeleton."""
    forward = np.cross(poses[:, 4] - poses[:, 1], poses[:, 8] - poses[:, 0])
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    ahead = [np.sum((poses[:, knee] - (poses[:, hip] + poses[:, ankle]) / 2) * forward, -1)
             for hip, knee, ankle in ((1, 2, 3), (4, 5, 6))]
    return np.median(np.concatenate(ahead))


@pytest.fixture(scope="module")
def clips():
    return {source.name: source for source in cat.catalogue()}


@pytest.fixture(scope="module")
def cmu(clips):
    return clips["cmu_01_01"]()


def test_tiny_bvh_pose_matches_hand_computed_positions():
    motion = parse_bvh(TINY_BVH, "tiny.bvh")
    assert motion.names == ("Hips", "Chest", "Arm", "Arm_end") and motion.parents == (-1, 0, 1, 2)
    assert motion.frame_time_s == 0.02
    # Frame 0: root at (1, 2, 3) turned +90 deg about y (x -> -z); Chest +90 deg about z (x -> y); Arm
    # +90 deg about x (z -> -y). Chest = root + Ry (0, 2, 0); Arm = Chest + Ry Rz (1, 0, 0) = + Ry (0, 1, 0);
    # end = Arm + Ry Rz Rx (0, 0, 2) = + Ry Rz (0, -2, 0) = + Ry (2, 0, 0) = + (0, 0, -2).
    # Frame 1: root Z then X, both 90 deg: R = Rz Rx, Chest = Rz Rx (0, 2, 0) = Rz (0, 0, 2) = (0, 0, 2)
    # (the other order, Rx Rz, would give (-2, 0, 0)); nothing below turns, so Arm = Chest + R (1, 0, 0)
    # = (0, 1, 2) and end = Arm + R (0, 0, 2) = Arm + Rz (0, -2, 0) = (2, 1, 2).
    expected = np.array([[[1, 2, 3], [1, 4, 3], [1, 5, 3], [1, 5, 1]],
                         [[0, 0, 0], [0, 0, 2], [0, 1, 2], [2, 1, 2]]], dtype=np.float64)
    np.testing.assert_allclose(motion.positions(mm_per_unit=10.0), 10.0 * expected, atol=1e-12)


def test_bvh_errors_name_the_file_and_line():
    with pytest.raises(ValueError, match=r"tiny.bvh: 23 motion values, expected 2 frames x 12 channels"):
        parse_bvh(TINY_BVH[:-len(" 0\n")] + "\n", "tiny.bvh")   # the last value missing
    with pytest.raises(ValueError, match=r"tiny.bvh:25: motion value 'x' is not a number"):
        parse_bvh(TINY_BVH.replace("90 90 0", "90 x 0"), "tiny.bvh")
    with pytest.raises(ValueError, match=r"tiny.bvh:9: unknown channel 'Qrotation' of joint Chest"):
        parse_bvh(TINY_BVH.replace("Zrotation Yrotation Xrotation", "Qrotation Yrotation Xrotation"), "tiny.bvh")
    extra = TINY_BVH + "0 0 0  0 0 0  0 0 0  0 0 0\n"
    with pytest.raises(ValueError, match="36 motion values"):
        parse_bvh(extra, "tiny.bvh")
    assert parse_bvh(extra, "tiny.bvh", extra_frames_ok=True).values.shape == (2, 12)


def test_real_cmu_bvh_is_a_plausible_person(cmu):
    assert cmu.joints_mm.shape == (2751, 16, 3) and cmu.fps == pytest.approx(120, rel=1e-5)  # T-pose dropped
    lengths = bones(cmu.joints_mm)
    # Bones inside one rigid chain of the CMU skeleton keep their length exactly; the others join two
    # chains (e.g. upper neck to shoulder) and vary a little.
    rigid = [JOINTS.index(n) - 1 for n in ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
                                           "LElbow", "LWrist", "RElbow", "RWrist")]
    np.testing.assert_allclose(lengths[:, rigid], np.broadcast_to(lengths[0, rigid], (len(lengths), 10)),
                               rtol=1e-9)
    assert np.all(lengths.std(axis=0) < 0.05 * lengths.mean(axis=0))
    thigh, shank = lengths[:, JOINTS.index("RKnee") - 1].mean(), lengths[:, JOINTS.index("RAnkle") - 1].mean()
    assert 350 < thigh < 500 and 350 < shank < 500          # the unit is right (1/0.45 inch)
    assert np.all(cmu.joints_mm[:, JOINTS.index("Head"), 1] > cmu.joints_mm[:, 0, 1] + 300)   # y is up
    assert knees_point_forward(cmu.joints_mm) > 30           # not mirrored


def test_deepmimic_clips_have_constant_bones_from_the_scaled_urdf(clips):
    for motion in cat.DEEPMIMIC_MOTIONS:
        clip = clips[f"deepmimic_{motion}"]()
        lengths = bones(clip.joints_mm)
        np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), rtol=1e-9, err_msg=motion)
        # humanoid.urdf x 0.25: hip 0.339548, knee 1.686184, ankle 1.639480 (m, before the scale)
        np.testing.assert_allclose(lengths[0, [0, 1, 2]], [84.887, 421.546, 409.870], atol=1e-3)
        assert np.all(np.diff(clip.times_s) > 0) and knees_point_forward(clip.joints_mm) > 0, motion
    walk = clips["deepmimic_walk"]()
    assert 800 < walk.joints_mm[:, 0, 1].min() and walk.joints_mm[:, [3, 6], 1].min() < 150  # standing on y = 0
    assert walk.fps == pytest.approx(30, rel=1e-3)


def test_harrington_hip_centres_on_a_hand_built_pelvis():
    # Right = +x, anterior = +y, superior = +z; PW = 250, PD = 150 (mm).
    lasi, rasi, lpsi, rpsi = (np.array([p], dtype=np.float64) for p in
                              ([-125, 0, 0], [125, 0, 0], [-50, -150, 0], [50, -150, 0]))
    left, right = hip_joint_centres(lasi, rasi, lpsi, rpsi)
    along = (-0.24 * 150 - 9.9, -0.30 * 250 - 10.9)
    np.testing.assert_allclose(right[0], [0.33 * 250 + 7.3, *along])
    np.testing.assert_allclose(left[0], [-(0.33 * 250 + 7.3), *along])


def test_csm_parser_reads_markers_and_names_bad_lines():
    text = "$Rate 120.000\n\n$Order\nA B \n\n$Points\n1 1 2 3 4 5 6\n2 7 8 9 10 11 12\n"
    names, rate, markers = parse_csm(text, "t.csm")
    assert names == ["A", "B"] and rate == 120
    np.testing.assert_array_equal(markers, np.arange(1, 13).reshape(2, 2, 3))
    with pytest.raises(ValueError, match=r"t.csm:8: 'DROPOUT' is not a coordinate"):
        parse_csm(text.replace("7 8 9", "DROPOUT 8 9"), "t.csm")
    with pytest.raises(ValueError, match=r"t.csm:7: 6 values, expected a frame number and 3 x 2"):
        parse_csm(text.replace("1 1 2 3", "1 2 3"), "t.csm")


def test_vicon_clip_is_left_right_symmetric_and_upright(clips):
    clip = clips["vicon_fencing"]()
    assert clip.fps == 120 and len(clip.joints_mm) == 2439 - cat.CSM_FIRST_GOOD_FRAME
    lengths = np.median(bones(clip.joints_mm), axis=0)
    for left, right in LEFT_RIGHT_PAIRS:
        # Surface markers and skin motion: within 20 % (measured: at most 16 %, the shoulders).
        assert abs(lengths[left - 1] / lengths[right - 1] - 1) < 0.2, (JOINTS[left], JOINTS[right])
    assert np.all(clip.joints_mm[:, JOINTS.index("Head"), 1] > clip.joints_mm[:, 0, 1] + 300)
    assert knees_point_forward(clip.joints_mm) > 0


def test_retargeting_keeps_directions_and_takes_the_subjects_bones(cmu, clips):
    subject_bones = BONE_MM * np.linspace(0.93, 1.07, 16)
    for clip in (cmu, clips["deepmimic_cartwheel"]()):
        world, times = clip_on_subject(clip, subject_bones)
        np.testing.assert_allclose(bones(world), np.broadcast_to(subject_bones[1:], (len(world), 15)), rtol=1e-6)
        source, _ = resample(clip.joints_mm, clip.times_s)
        cosine = np.sum(bone_directions(world) * bone_directions(source), -1)[:, 1:]
        np.testing.assert_allclose(cosine, 1.0, atol=1e-12)
        assert world[:, [3, 6], 1].min() == pytest.approx(ANKLE_HEIGHT_MM)
        np.testing.assert_allclose(world[:, 0, [0, 2]].mean(axis=0), 0, atol=1e-9)


def test_resampling_keeps_the_duration_and_is_exact_on_linear_motion():
    times = np.concatenate([[0.0], np.cumsum([1 / 30] * 20 + [2 / 30] + [1 / 30] * 10)])  # one dropped frame
    rng = np.random.default_rng(0)
    start, velocity = rng.normal(size=(16, 3)), rng.normal(size=(16, 3))
    joints = start + velocity * times[:, None, None]
    out, out_times = resample(joints, times, fps=50)
    assert out_times[0] == 0 and times[-1] - 1 / 50 < out_times[-1] <= times[-1]
    np.testing.assert_allclose(np.diff(out_times), 1 / 50)
    np.testing.assert_allclose(out, start + velocity * out_times[:, None, None], atol=1e-12)
    with pytest.raises(ValueError, match="start at 0 and increase"):
        resample(joints, times[::-1], fps=50)


def test_catalogue_lists_every_clip_with_source_and_licence(clips):
    assert len(clips) == 4 + len(cat.DEEPMIMIC_MOTIONS) + 2 + len(cat.ISAACLAB_MOTIONS) + cat.HOLOSOMA_CLIMBS == 29
    for source in clips.values():
        assert source.licence and source.source and source.format in ("bvh", "csm", "deepmimic", "c3d", "isaaclab", "holosoma")
    with pytest.raises(KeyError, match="no motion clip 'nope'"):
        cat.load_clip("nope")


def test_a_missing_package_is_one_error_naming_it(monkeypatch, tmp_path):
    monkeypatch.setattr(cat, "ASSIMP_MODELS", str(tmp_path / "none"))
    with pytest.raises(cat.MissingMocapPackage, match="Debian package assimp-testmodels .*make mocap"):
        cat.catalogue()
    monkeypatch.undo()
    monkeypatch.setenv("MOCAP_WHEEL_DIR", str(tmp_path))
    with pytest.raises(cat.MissingMocapPackage, match=r"PyPI pybullet==3\.2\.7 is not downloaded .*make mocap"):
        cat.catalogue()


@pytest.mark.parametrize("missing, message", [
    ("dart", r"Debian package dart-doc is not unpacked .*make mocap.*apt-get download dart-doc"),
    ("isaaclab", r"PyPI isaaclab==3\.0\.0 is not downloaded .*make mocap.*pip download isaaclab==3\.0\.0"),
    ("holosoma", r"PyPI holosoma-retargeting==0\.1\.0 is not downloaded .*make mocap"),
])
def test_a_missing_new_package_names_it_and_the_command(monkeypatch, tmp_path, missing, message):
    source = cat.wheel_dir()
    for entry in os.listdir(source):
        if not entry.startswith({"dart": "dart-doc", "isaaclab": "isaaclab-", "holosoma": "holosoma_"}[missing]):
            os.symlink(os.path.join(source, entry), tmp_path / entry)
    monkeypatch.setenv("MOCAP_WHEEL_DIR", str(tmp_path))
    with pytest.raises(cat.MissingMocapPackage, match=message):
        cat.catalogue()


def write_c3d(path, names, points, rate=120.0):
    """A C3D file (the `c3d` package's writer) of markers `points` (T, M, 3) in mm, NaN where missing."""
    writer = c3d.Writer(point_rate=rate, point_units="mm  ")
    frames = []
    for frame in points:
        values = np.zeros((len(names), 5), np.float32)
        values[:, :3] = np.nan_to_num(frame)
        values[np.isnan(frame[:, 0]), 3] = -1          # residual -1: the marker is missing
        frames.append((values, np.zeros((0, 0), np.float32)))
    writer.add_frames(frames)
    writer.set_point_labels([f"Tiny:{n}" for n in names])
    with open(path, "wb") as f:
        writer.write(f)


def test_tiny_c3d_gives_hand_computed_joints_fills_short_gaps_and_cuts_long_ones(tmp_path):
    # A person standing still (y up, facing +z, the left at +x), one marker per name at a known place.
    place = {"ARIEL": (0, 1750, 0), "T10": (0, 1300, -100), "STRN": (0, 1300, 100),
             "LFWT": (120, 1000, 80), "RFWT": (-120, 1000, 80), "LBWT": (70, 1020, -90), "RBWT": (-70, 1020, -90)}
    for side, x in (("L", 1), ("R", -1)):
        place.update({f"{side}FSH": (x * 180, 1450, 40), f"{side}BSH": (x * 180, 1450, -40),
                      f"{side}ELB": (x * 230, 1150, 0), f"{side}IEL": (x * 170, 1150, 0),
                      f"{side}OWR": (x * 260, 880, 0), f"{side}IWR": (x * 200, 880, 0),
                      f"{side}KNE": (x * 140, 500, 30), f"{side}KNI": (x * 60, 500, 30), f"{side}ANK": (x * 110, 80, 0)})
    names = sorted(place)
    points = np.tile(np.array([place[n] for n in names], float), (130, 1, 1))
    points[:, :, 2] += np.arange(130)[:, None]                        # walking forward 1 mm a frame
    lelb, rank = names.index("LELB"), names.index("RANK")
    points[10:40, lelb] = np.nan                                      # 0.25 s: filled
    points[100:, rank] = np.nan                                       # runs to the end: cut
    write_c3d(tmp_path / "tiny.c3d", names, points)
    clip = read_c3d(str(tmp_path / "tiny.c3d"), "tiny")
    assert clip.fps == 120 and len(clip.joints_mm) == 100
    frame = 20                                                        # inside the filled gap
    expected = {"LKnee": (100, 500, 30 + frame), "RElbow": (-200, 1150, frame), "LElbow": (200, 1150, frame),
                "Thorax": (0, 1450, frame), "Head": (0, 1750, frame), "Spine": (0, 1300, frame),
                "RWrist": (-230, 880, frame), "RAnkle": (-110, 80, frame)}
    for joint, position in expected.items():
        np.testing.assert_allclose(clip.joints_mm[frame, JOINTS.index(joint)], position, atol=1e-3, err_msg=joint)
    left, right = hip_joint_centres(*(points[[frame], names.index(n)] for n in ("LFWT", "RFWT", "LBWT", "RBWT")))
    np.testing.assert_allclose(clip.joints_mm[frame, [4, 1]], np.concatenate([left, right]), atol=1e-3)
    assert clip.joints_mm[frame, 4, 0] > 0 > clip.joints_mm[frame, 1, 0]   # left hip on the left (+x)


def test_dart_c3d_captures_are_cut_upright_and_not_mirrored(clips):
    # The stretches kept: nick_freeform_001 frames 0-968 (RIWR is missing from 969 to the end), squat
    # frames 262-2286 (the waist and sternum markers drop out for 1-2 s near both ends).
    for name, frames in (("dart_freeform", 969), ("dart_squat", 2025)):
        clip = clips[name]()
        assert clip.fps == 120 and len(clip.joints_mm) == frames, name
        lengths = np.median(bones(clip.joints_mm), axis=0)
        for left, right in LEFT_RIGHT_PAIRS:
            assert abs(lengths[left - 1] / lengths[right - 1] - 1) < 0.1, (name, JOINTS[left])
        assert np.all(clip.joints_mm[:, JOINTS.index("Head"), 1] > clip.joints_mm[:, 0, 1] + 500)
        assert knees_point_forward(clip.joints_mm) > 10, name


def test_isaaclab_frame_by_hand_and_a_rigid_unmirrored_humanoid(clips):
    with zipfile.ZipFile(cat.isaaclab_wheel()) as wheel:
        archive = np.load(io.BytesIO(wheel.read("isaaclab_tasks/contrib/humanoid_amp/motions/humanoid_walk.npz")))
    body = list(archive["body_names"])
    clip = clips["isaaclab_walk"]()
    assert clip.fps == 60 and len(clip.joints_mm) == 154
    x, y, z = archive["body_positions"][7, body.index("left_shin")].astype(float)
    np.testing.assert_allclose(clip.joints_mm[7, JOINTS.index("LKnee")], (1000 * x, 1000 * z, -1000 * y), atol=1e-6)
    w, qx, qy, qz = archive["body_rotations"][7, body.index("head")].astype(float) / np.linalg.norm(
        archive["body_rotations"][7, body.index("head")])
    head_z = np.array([2 * (qx * qz + w * qy), 2 * (qy * qz - w * qx), 1 - 2 * (qx * qx + qy * qy)])
    hx, hy, hz = archive["body_positions"][7, body.index("head")] + 0.175 * head_z
    np.testing.assert_allclose(clip.joints_mm[7, JOINTS.index("Head")], (1000 * hx, 1000 * hz, -1000 * hy), atol=1e-3)
    for name in ("isaaclab_walk", "isaaclab_run", "isaaclab_dance"):
        poses = clips[name]().joints_mm
        np.testing.assert_allclose(bones(poses), np.broadcast_to(bones(poses)[0], (len(poses), 15)), rtol=1e-4)
        assert knees_point_forward(poses) > 0, name


def test_holosoma_names_frame_by_hand_rate_and_chirality(clips):
    path = cat.holosoma_wheel()
    member = cat.holosoma_members(path)[2]
    with zipfile.ZipFile(path) as wheel:
        names = joint_names(wheel.read("holosoma_retargeting/config_types/data_type.py").decode(), path)
        raw = np.load(io.BytesIO(wheel.read(member))).astype(float)
    assert len(names) == 53 and names[:5] == ["Hips", "Spine", "Spine1", "Neck", "Head"]
    clip = clips["holosoma_climb_2"]()
    assert len(clip.joints_mm) == len(raw) == 3011
    x, y, z = (raw[100, names.index("LeftUpLeg")] + raw[100, names.index("RightUpLeg")]) / 2
    np.testing.assert_allclose(clip.joints_mm[100, 0], (1000 * x, 1000 * z, -1000 * y), atol=1e-6)
    total = 0
    for n in range(cat.HOLOSOMA_CLIMBS):
        poses = clips[f"holosoma_climb_{n}"]().joints_mm
        total += len(poses)
        # 120 Hz: the 95th percentile of the pelvis's horizontal speed is a walking pace (0.64-0.78 m/s
        # measured); read as 30 Hz it would be a quarter of that.
        speed = np.linalg.norm(np.diff(poses[:, 0, [0, 2]], axis=0), axis=-1) * 120 / 1000
        assert 0.4 < np.percentile(speed, 95) < 2.0, n
        assert knees_point_forward(poses) > 0, n
    assert total == 12939


def test_new_clips_retarget_to_the_subjects_bones(clips):
    subject_bones = BONE_MM * np.linspace(0.93, 1.07, 16)
    for name in ("dart_squat", "isaaclab_dance", "holosoma_climb_0"):
        world, _ = clip_on_subject(clips[name](), subject_bones)
        np.testing.assert_allclose(bones(world), np.broadcast_to(subject_bones[1:], (len(world), 15)), rtol=1e-6)
        assert world[:, [3, 6], 1].min() == pytest.approx(ANKLE_HEIGHT_MM)
