"""Rendering of synthetic frames: a stick figure (a colour per bone, anti-aliased OpenCV lines, joint dots,
a head disc) over a textured scene, both seen through the person-centred square crop.

Image coordinates are continuous: pixel i covers [i, i + 1), so a joint at normalised position n lies at
n * size (OpenCV draws with pixel centres at integers, hence the half-pixel shift when drawing).
"""
import os

import cv2
import numpy as np

from .skeleton import NUM_JOINTS, PARENTS

# One colour per bone, indexed by the bone's child joint (BGR). Right limbs warm, left limbs cold,
# trunk green/yellow: a CNN must tell left from right, so the two sides never share a hue.
BONE_COLOURS_BGR = {
    1: (0, 140, 255),     # pelvis -> RHip: orange
    2: (0, 0, 230),       # RHip -> RKnee: red
    3: (110, 70, 255),    # RKnee -> RAnkle: pink-red
    4: (255, 200, 0),     # pelvis -> LHip: sky blue
    5: (255, 60, 0),      # LHip -> LKnee: blue
    6: (255, 255, 90),    # LKnee -> LAnkle: cyan
    7: (0, 230, 230),     # pelvis -> Spine: yellow
    8: (0, 200, 60),      # Spine -> Thorax: green
    9: (200, 230, 255),   # Thorax -> Head: pale (neck)
    10: (160, 160, 0),    # Thorax -> LShoulder: teal
    11: (255, 0, 150),    # LShoulder -> LElbow: violet
    12: (230, 130, 255),  # LElbow -> LWrist: lilac
    13: (0, 170, 170),    # Thorax -> RShoulder: olive
    14: (200, 0, 255),    # RShoulder -> RElbow: magenta
    15: (120, 190, 255),  # RElbow -> RWrist: peach
}
TORSO_BONES = (1, 4, 7, 8, 10, 13)
HEAD_JOINT = 9
HEAD_RADIUS_MM = 95.0
HEAD_CENTRE_ALONG_NECK = 0.55      # the head disc's centre, as a fraction of thorax -> head
HEAD_COLOUR_BGR = (150, 190, 230)
OUTLINE_BGR = (25, 25, 25)
JOINT_DOT_BGR = (245, 245, 245)
TEXEL_PX = 4.0                     # scene texture resolution, in sensor pixels per texel
JPEG_QUALITY = 95
_SHIFT = 4                         # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def scene_texture(rng, region):
    """A seeded background scene over the sensor region (u0, v0, u1, v1): gradient + smooth colour
    noise + one pattern (checker, stripes or blobs). Returns (float32 H x W x 3 BGR texture, (u0, v0))."""
    u0, v0, u1, v1 = region
    width = max(2, int(np.ceil((u1 - u0) / TEXEL_PX)))
    height = max(2, int(np.ceil((v1 - v0) / TEXEL_PX)))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # Muted colours, so the saturated limb colours stand out.
    start, end = rng.uniform(50, 200, (2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    texture = start + (end - start) * ramp[..., None]
    cell = 16                                                 # noise cells of 16 texels
    coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
    coarse = 0.6 * coarse[..., :1] + 0.4 * coarse             # mostly brightness, some colour
    texture += rng.uniform(8, 22) * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    period = rng.uniform(8, 30)                               # texels
    kind = rng.integers(3)
    strength = rng.uniform(10, 30)
    colour = rng.uniform(-1, 1, 3).astype(np.float32)
    if kind == 0:      # checker, rotated
        a = rng.uniform(0, np.pi / 2)
        s = np.floor((np.cos(a) * xs + np.sin(a) * ys) / period) + np.floor((np.cos(a) * ys - np.sin(a) * xs) / period)
        pattern = (s % 2) * 2 - 1
    elif kind == 1:    # soft stripes
        a = rng.uniform(0, np.pi)
        pattern = np.sin(2 * np.pi * (np.cos(a) * xs + np.sin(a) * ys) / period)
    else:              # blobs
        pattern = np.zeros((height, width), np.float32)
        for _ in range(int(rng.integers(4, 10))):
            centre = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
            axes = (float(rng.uniform(0.5, 2) * period), float(rng.uniform(0.5, 2) * period))
            cv2.ellipse(pattern, (centre, axes, float(rng.uniform(0, 180))), float(rng.choice([-1, 1])), -1,
                        cv2.LINE_AA)
    texture += strength * pattern[..., None].astype(np.float32) * colour
    return np.clip(texture, 0, 255).astype(np.float32), (float(u0), float(v0))


def crop_background(texture, origin, box, size):
    """The scene seen through the crop box (x0, y0, side) in sensor pixels, resampled to size x size."""
    x0, y0, side = box
    scale = side / size / TEXEL_PX      # texels per output pixel
    # Output pixel centre i + 0.5 -> sensor x0 + (i + 0.5) * side / size -> texel centre index.
    offset_x = (x0 - origin[0]) / TEXEL_PX + 0.5 * scale - 0.5
    offset_y = (y0 - origin[1]) / TEXEL_PX + 0.5 * scale - 0.5
    matrix = np.array([[scale, 0, offset_x], [0, scale, offset_y]], dtype=np.float64)
    image = cv2.warpAffine(texture, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _point(xy):
    return (int(round((xy[0] - 0.5) * _ONE)), int(round((xy[1] - 0.5) * _ONE)))


def draw_figure(image, joints_xy, depth_mm, head_radius_px):
    """Draw the stick figure in place. joints_xy: (16, 2) continuous image coordinates; depth_mm: (16,)
    camera depth, used to paint far bones first so near limbs occlude them."""
    size = image.shape[0]
    limb = max(1, int(round(size * 0.026)))
    bones = sorted(range(1, NUM_JOINTS), key=lambda j: -(depth_mm[j] + depth_mm[PARENTS[j]]))
    for j in bones:
        parent = int(PARENTS[j])
        thickness = limb + 1 if j in TORSO_BONES else limb
        a, b = _point(joints_xy[parent]), _point(joints_xy[j])
        cv2.line(image, a, b, OUTLINE_BGR, thickness + 2, cv2.LINE_AA, _SHIFT)
        cv2.line(image, a, b, BONE_COLOURS_BGR[j], thickness, cv2.LINE_AA, _SHIFT)
        if j == HEAD_JOINT:
            neck = joints_xy[PARENTS[HEAD_JOINT]]
            centre = neck + HEAD_CENTRE_ALONG_NECK * (joints_xy[HEAD_JOINT] - neck)
            radius = int(round(head_radius_px * _ONE))
            cv2.circle(image, _point(centre), radius + _ONE, OUTLINE_BGR, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(image, _point(centre), radius, HEAD_COLOUR_BGR, -1, cv2.LINE_AA, _SHIFT)
            # The neck bone again, over the disc, so the head joint stays the end of a visible line.
            cv2.line(image, a, b, BONE_COLOURS_BGR[j], thickness, cv2.LINE_AA, _SHIFT)
    dot = max(1, int(round(limb * 0.8 * _ONE)))
    for j in range(NUM_JOINTS):
        cv2.circle(image, _point(joints_xy[j]), dot, JOINT_DOT_BGR, -1, cv2.LINE_AA, _SHIFT)
    return image


def render_sequence(job):
    """Render and write one camera sequence (a picklable dict, so it can run in a worker process).

    job: seed (list of ints for the scene texture), region (sensor box the crops cover), boxes (T, 3),
    joints_px (T, 16, 2) sensor pixels, depth_mm (T, 16), focal (px), image_size, paths (T absolute
    file names). Returns the number of frames written."""
    texture, origin = scene_texture(np.random.default_rng(job["seed"]), job["region"])
    size = job["image_size"]
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if job["paths"][0].endswith(".jpg") else []
    os.makedirs(os.path.dirname(job["paths"][0]), exist_ok=True)
    for box, joints_px, depth, path in zip(job["boxes"], job["joints_px"], job["depth_mm"], job["paths"]):
        x0, y0, side = box
        image = crop_background(texture, origin, box, size)
        joints_xy = (joints_px - (x0, y0)) * (size / side)
        head_radius_px = job["focal"] * HEAD_RADIUS_MM / depth[HEAD_JOINT] * size / side
        draw_figure(image, joints_xy, depth, head_radius_px)
        if not cv2.imwrite(path, image, params):
            raise OSError(f"could not write image {path}")
    return len(job["paths"])
