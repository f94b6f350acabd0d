"""Every real motion clip the registry packages provide, with its source and licence; loading by name.

Sources (installed by `make mocap`, which `make test` runs):
- Debian `assimp-testmodels`: /usr/share/assimp/models/BVH/*.bvh and CSM/ThomasFechten.csm;
- PyPI `pybullet==3.2.7`, `isaaclab==3.0.0` and `holosoma-retargeting==0.1.0`, their wheels downloaded (not
  installed) into the wheel folder (MOCAP_WHEEL_DIR, by default ${XDG_CACHE_HOME:-~/.cache}/hpm3d/wheels)
  and read as zip archives;
- Debian `dart-doc`, downloaded and unpacked (not installed: `apt-get download`, `dpkg-deb -x`) into
  <wheel folder>/dart-doc, of which its C3D captures and copyright file are kept.
"""
import glob
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial


from .bvh import BOXING_JOINT_MAP, CMU_JOINT_MAP, CMU_MM_PER_UNIT, read_bvh
from .c3dfile import read_c3d
from .csm import read_csm
from .deepmimic import read_deepmimic
from .holosoma import joint_names, read_holosoma
from .isaaclab import read_isaaclab

ASSIMP_PACKAGE = "assimp-testmodels"
ASSIMP_MODELS = "/usr/share/assimp/models"
PYBULLET = "pybullet==3.2.7"
PYBULLET_WHEEL_PATTERN = "pybullet-3.2.7-*.whl"
# What `make mocap` runs: one platform's wheel everywhere (the data files are the same in every wheel).
PIP_DOWNLOAD = (f"pip download {PYBULLET} --no-deps --only-binary=:all: --platform manylinux2014_x86_64 "
                "--python-version 3.11 --implementation cp -d")
DEEPMIMIC_MOTIONS = ("walk", "run", "jump", "kick", "spinkick", "punch", "spin", "cartwheel", "crawl", "roll",
                     "backflip", "dance_a", "dance_b", "getup_faceup", "getup_facedown")
ISAACLAB = "isaaclab==3.0.0"
HOLOSOMA = "holosoma-retargeting==0.1.0"
DART_DOC = "dart-doc"
# The other wheels hold no compiled code: any platform's is the same file.
PIP_DOWNLOAD_PURE = "pip download {} --no-deps --only-binary=:all: --python-version 3.12 -d"
DART_DOC_C3D = "dart-doc/usr/share/doc/dart/data/c3d"
ISAACLAB_MOTIONS = ("dance", "walk", "run")
_ISAACLAB_IN_WHEEL = "isaaclab_tasks/contrib/humanoid_amp/motions/humanoid_{}.npz"
_HOLOSOMA_NAMES_IN_WHEEL = "holosoma_retargeting/config_types/data_type.py"
_HOLOSOMA_CLIMB_IN_WHEEL = "holosoma_retargeting/demo_data/climb/mocap_climb_seq_{}/"
HOLOSOMA_CLIMBS = 5
_MOTIONS_IN_WHEEL = "pybullet_data/data/motions/humanoid3d_{}.txt"
_URDF_IN_WHEEL = "pybullet_data/humanoid/humanoid.urdf"

_CMU_LICENCE = ("CMU Graphics Lab Motion Capture Database (mocap.cs.cmu.edu), BVH conversion by B. Hahne: "
                "\"free for use in research and commercial projects\" (BVH/01_nn.bvh.source.txt); "
                "Debian package BSD-3-clause")
_BOXING_LICENCE = ("BSD-3-clause (Debian assimp-testmodels copyright, 'Files: *', ASSIMP Development Team); "
                   "origin of the capture not stated")
_CSM_LICENCE = "\"Recorded with vicon IQ, july 2008. Free for any purpose.\" (CSM/ThomasFechten.source.txt)"
_DART_LICENCE = ("BSD-2-clause (Debian dart-doc copyright, 'Files: *', the DART authors); captured at the "
                 "Georgia Tech Graphics Lab, per the marker set's subject names")
_ISAACLAB_LICENCE = ("BSD-3-clause (isaaclab 3.0.0 wheel, SPDX headers of humanoid_amp/); CMU Graphics Lab motion "
                     "retargeted to the humanoid")
_HOLOSOMA_LICENCE = "Apache-2.0 (holosoma-retargeting 0.1.0 wheel, METADATA License)"
_PYBULLET_LICENCE = "zlib (pybullet 3.2.7 wheel, pybullet-3.2.7.dist-info/LICENSE.txt)"
# ThomasFechten.csm: before this frame its right ankle marker RANK drifts 25-200 mm off its later
# distance from the knee marker (RKNE-RANK 207-526 mm, 414 mm from frame 1,300 on): a slipped or
# mislabelled marker, so those 10 s are not used.
CSM_FIRST_GOOD_FRAME = 1200


class MissingMocapPackage(RuntimeError):
    """A registry package that holds motion capture is not installed."""


def wheel_dir():
    return os.environ.get("MOCAP_WHEEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hpm3d", "wheels")


def assimp_models():
    if not os.path.isdir(os.path.join(ASSIMP_MODELS, "BVH")):
        raise MissingMocapPackage(f"Debian package {ASSIMP_PACKAGE} is not installed ({ASSIMP_MODELS}/BVH is "
                                  f"missing): run 'make mocap' (as root: apt-get install -y {ASSIMP_PACKAGE})")
    return ASSIMP_MODELS


def _wheel(requirement, pattern, download):
    found = sorted(glob.glob(os.path.join(wheel_dir(), pattern)))
    if not found:
        raise MissingMocapPackage(
            f"PyPI {requirement} is not downloaded (no {pattern} in {wheel_dir()}): run 'make mocap' "
            f"(it runs: {download} {wheel_dir()})")
    return found[0]


def pybullet_wheel():
    return _wheel(PYBULLET, PYBULLET_WHEEL_PATTERN, PIP_DOWNLOAD)


def isaaclab_wheel():
    return _wheel(ISAACLAB, "isaaclab-3.0.0-*.whl", PIP_DOWNLOAD_PURE.format(ISAACLAB))


def holosoma_wheel():
    return _wheel(HOLOSOMA, "holosoma_retargeting-0.1.0-*.whl", PIP_DOWNLOAD_PURE.format(HOLOSOMA))


def dart_c3d_dir():
    folder = os.path.join(wheel_dir(), DART_DOC_C3D)
    if not os.path.isdir(folder):
        raise MissingMocapPackage(
            f"Debian package {DART_DOC} is not unpacked ({folder} is missing): run 'make mocap' (it runs: "
            f"apt-get download {DART_DOC} and dpkg-deb -x into {os.path.join(wheel_dir(), 'dart-doc')})")
    return folder


def _read_wheel(path, *members):
    """The bytes of each member of the wheel at `path`."""
    try:
        with zipfile.ZipFile(path) as wheel:
            return [wheel.read(member) for member in members]
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: {error}; delete it and run 'make mocap'") from None


def _load_deepmimic(motion, name):
    member, path = _MOTIONS_IN_WHEEL.format(motion), pybullet_wheel()
    motion_text, urdf_text = (data.decode() for data in _read_wheel(path, member, _URDF_IN_WHEEL))
    return read_deepmimic(motion_text, urdf_text, name, f"{path}:{member}", f"{path}:{_URDF_IN_WHEEL}")


def _load_isaaclab(motion, name):
    member, path = _ISAACLAB_IN_WHEEL.format(motion), isaaclab_wheel()
    return read_isaaclab(_read_wheel(path, member)[0], name, f"{path}:{member}")


def holosoma_members(path):
    """The climbing captures' .npy members of the holosoma wheel at `path`, by sequence number."""
    with zipfile.ZipFile(path) as wheel:
        listing = wheel.namelist()
    members = []
    for number in range(HOLOSOMA_CLIMBS):
        prefix = _HOLOSOMA_CLIMB_IN_WHEEL.format(number)
        found = [m for m in listing if m.startswith(prefix) and "_joint_positions_" in m and m.endswith(".npy")]
        if len(found) != 1:
            raise ValueError(f"{path}: expected one {prefix}*_joint_positions_*.npy, found {len(found)}")
        members.append(found[0])
    return members


def _load_holosoma(number, name):
    path = holosoma_wheel()
    member = holosoma_members(path)[number]
    data, names_text = _read_wheel(path, member, _HOLOSOMA_NAMES_IN_WHEEL)
    names = joint_names(names_text.decode(), f"{path}:{_HOLOSOMA_NAMES_IN_WHEEL}")
    return read_holosoma(data, names, name, f"{path}:{member}")


@dataclass(frozen=True)
class ClipSource:
    """One clip: its name, format, where it comes from, its licence, and how to load it."""
    name: str
    format: str
    source: str
    licence: str
    load: Callable

    def __call__(self):
        """The Clip (source bone lengths, mm, y up)."""
        return self.load()


def catalogue():
    """Every clip, in a fixed order; a missing package is a MissingMocapPackage error naming it."""
    models = assimp_models()
    wheel = pybullet_wheel()
    c3d_dir, isaaclab, holosoma = dart_c3d_dir(), isaaclab_wheel(), holosoma_wheel()
    bvh_dir, csm_path = os.path.join(models, "BVH"), os.path.join(models, "CSM", "ThomasFechten.csm")
    clips = [
        ClipSource(f"cmu_{trial}", "bvh", f"Debian {ASSIMP_PACKAGE}: {bvh_dir}/{trial}.bvh (CMU subject 1, "
                   "120 fps; the opening calibration T-pose frame is dropped)", _CMU_LICENCE,
                   partial(read_bvh, os.path.join(bvh_dir, f"{trial}.bvh"), f"cmu_{trial}", CMU_JOINT_MAP,
                           CMU_MM_PER_UNIT, first_frame=1))
        for trial in ("01_01", "01_03")]
    clips.append(ClipSource(
        "assimp_boxing", "bvh", f"Debian {ASSIMP_PACKAGE}: {bvh_dir}/Boxing_Toes.bvh (100 fps, cm; the file "
        "holds one frame line more than its 'Frames: 3069', and the declared 3,069 are read)", _BOXING_LICENCE,
        partial(read_bvh, os.path.join(bvh_dir, "Boxing_Toes.bvh"), "assimp_boxing", BOXING_JOINT_MAP, 10.0,
                extra_frames_ok=True)))
    clips.append(ClipSource(
        "vicon_fencing", "csm", f"Debian {ASSIMP_PACKAGE}: {csm_path} (Vicon, 43 markers, 120 Hz, from frame "
        f"{CSM_FIRST_GOOD_FRAME})", _CSM_LICENCE,
        partial(read_csm, csm_path, "vicon_fencing", first_frame=CSM_FIRST_GOOD_FRAME)))
    clips += [ClipSource(f"deepmimic_{motion}", "deepmimic",
                         f"PyPI {PYBULLET}: {os.path.basename(wheel)}:{_MOTIONS_IN_WHEEL.format(motion)}",
                         _PYBULLET_LICENCE, partial(_load_deepmimic, motion, f"deepmimic_{motion}"))
              for motion in DEEPMIMIC_MOTIONS]
    clips += [ClipSource(f"dart_{short}", "c3d", f"Debian {DART_DOC}: {c3d_dir}/{file} (Vicon, 53 markers, 120 Hz; "
                         "cut to its longest stretch without marker gaps over 0.5 s)", _DART_LICENCE,
                         partial(read_c3d, os.path.join(c3d_dir, file), f"dart_{short}"))
              for short, file in (("freeform", "nick_freeform_001.c3d"), ("squat", "squat.c3d"))]
    clips += [ClipSource(f"isaaclab_{motion}", "isaaclab", f"PyPI {ISAACLAB}: {os.path.basename(isaaclab)}:"
                         f"{_ISAACLAB_IN_WHEEL.format(motion)} (60 Hz)", _ISAACLAB_LICENCE,
                         partial(_load_isaaclab, motion, f"isaaclab_{motion}"))
              for motion in ISAACLAB_MOTIONS]
    clips += [ClipSource(f"holosoma_climb_{n}", "holosoma", f"PyPI {HOLOSOMA}: {os.path.basename(holosoma)}:"
                         f"{_HOLOSOMA_CLIMB_IN_WHEEL.format(n)}*_joint_positions_*.npy (120 Hz)", _HOLOSOMA_LICENCE,
                         partial(_load_holosoma, n, f"holosoma_climb_{n}"))
              for n in range(HOLOSOMA_CLIMBS)]
    return tuple(clips)


def load_clip(name):
    """The Clip called `name` (see catalogue())."""
    for clip in catalogue():
        if clip.name == name:
            return clip()
    raise KeyError(f"no motion clip {name!r}; the catalogue has {', '.join(c.name for c in catalogue())}")

