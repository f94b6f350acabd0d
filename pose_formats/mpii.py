"""MPII Human Pose to the 2D-only list (SPEC section 3: path + 32 values + clip marker) that the
addsrr / mask3d / finetune_whole stages mix in (tools/prepare_mpii.py).

Reads `mpii_human_pose_v1_u12_1.mat` (RELEASE.annolist, img_train, single_person) and images/<name>.
Each single-person training annotation whose 15 joints that we use are all annotated becomes one square
crop around the person's centre (objpos) and scale (MPII's scale is the person's height / 200 px).
"""
import json
import os

import cv2
import numpy as np
import scipy.io

from .atomic import atomic_write
from .crops import crop_square, write_jpeg
from .listfile import write_list_file
from .skeleton import MASK_2D_JOINT
from .labels import labels_2d_only
from .listfile import LIST_MPII

# MPII joint id of each of our 16 joints; the spine (our 7) has none and is written as (0, 0).
MPII_IDS = (6, 2, 1, 0, 3, 4, 5, None, 7, 9, 13, 14, 15, 12, 11, 10)
SCALE_PX = 200.0
META_MPII = "mpii_meta.json"


def _items(value):
    """loadmat(squeeze_me=True) turns 1-element arrays into scalars and empty fields into empty arrays."""
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1))
    return [value]


def single_people(mat_path):
    """[(image name, centre (2,), scale, joints (16, 2) with NaN at the spine)] of every single-person
    training annotation, and the count of those skipped for unannotated joints."""
    try:
        release = scipy.io.loadmat(mat_path, struct_as_record=False, squeeze_me=True)["RELEASE"]
        annolist, train, single = _items(release.annolist), _items(release.img_train), _items(release.single_person)
    except (OSError, ValueError, KeyError, AttributeError) as e:
        raise ValueError(f"{mat_path}: not MPII's annotation file (RELEASE.annolist, img_train, single_person): "
                         f"{type(e).__name__}: {e}") from None
    people, incomplete = [], 0
    for index, (annotation, is_train, chosen) in enumerate(zip(annolist, train, single)):
        if not is_train:
            continue
        rects = _items(annotation.annorect)
        for k in _items(chosen):
            rect = rects[int(k) - 1]
            points = _points(rect)
            if any(i is not None and i not in points for i in MPII_IDS):
                incomplete += 1
                continue
            joints = np.array([points[i] if i is not None else (np.nan, np.nan) for i in MPII_IDS])
            centre = np.array([float(rect.objpos.x), float(rect.objpos.y)])
            people.append((str(annotation.image.name), centre, float(rect.scale), joints))
    return people, incomplete


def _points(rect):
    """{MPII joint id: (x, y)} of an annotation rectangle (none when it has no annopoints)."""
    annopoints = getattr(rect, "annopoints", None)
    if annopoints is None or isinstance(annopoints, np.ndarray):    # an empty field
        return {}
    return {int(p.id): (float(p.x), float(p.y)) for p in _items(annopoints.point)}


def crop_box(centre, scale, joints, margin):
    """(x0, y0, side): a square on the person's centre, side the larger of the person's height and twice
    the farthest joint's offset, times `margin`, so every joint is inside."""
    reach = np.nanmax(np.abs(joints - centre))
    side = max(SCALE_PX * scale, 2 * reach) * margin
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


def prepare(mpii_root, out, size=368, margin=1.25, quality=95, progress=lambda items: items):
    """Write the crops, the 2D-only list and mpii_meta.json; returns the meta dict."""
    mat_path = os.path.join(mpii_root, "mpii_human_pose_v1_u12_1.mat")
    if not os.path.isfile(mat_path):
        raise ValueError(f"{mat_path}: missing file")
    people, incomplete = single_people(mat_path)
    paths, labels = [], []
    for n, (name, centre, scale, joints) in enumerate(progress(people)):
        image_path = os.path.join(mpii_root, "images", name)
        image = cv2.imread(image_path, cv2.IMREAD_COLOR) if os.path.isfile(image_path) else None
        if image is None:
            fault = "unreadable image" if os.path.isfile(image_path) else "missing file"
            raise ValueError(f"{image_path}: {fault} (annotation {n + 1} of {mat_path})")
        box = crop_box(centre, scale, joints, margin)
        paths.append(f"images/mpii/{os.path.splitext(name)[0]}_{n:05d}.jpg")
        write_jpeg(os.path.join(out, paths[-1]), crop_square(image, box, size), quality)
        labels.append(np.nan_to_num((joints - box[:2]) / box[2]).reshape(-1))
    if not paths:
        raise ValueError(f"{mat_path}: no single-person training annotation with all joints")
    write_list_file(os.path.join(out, LIST_MPII), paths, labels_2d_only(np.array(labels)))
    meta = {"tool": "tools/prepare_mpii.py (pose_formats.mpii)", "mpii_root": os.path.abspath(mpii_root),
            "list": LIST_MPII, "frames": len(paths), "skipped_incomplete": incomplete,
            "options": {"size": size, "margin": margin, "quality": quality},
            "conventions": {"joints": f"ours from MPII ids {list(MPII_IDS)}; the spine (joint {MASK_2D_JOINT}) "
                                      "is absent and written as 0,0; clip marker 0 (single frames)",
                            "crop": "square on objpos, side = max(200 x scale, 2 x farthest joint offset) x margin"}}
    with atomic_write(os.path.join(out, META_MPII)) as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    return meta
