"""Square person-centred crops written as the list files' images (preparation of official data sets).

A box is (x0, y0, side) in continuous pixel coordinates, pixel i covering [i, i + 1), the convention of
the 2D labels: a joint at pixel coordinate p has label (p - (x0, y0)) / side and lies at label x size
in the crop. Parts of a box outside the frame are black."""
import cv2
import numpy as np

from .atomic import atomic_write


def crop_square(image, box, size):
    """The box of `image` resampled (bilinear) to size x size."""
    x0, y0, side = (float(v) for v in box)
    step = side / size      # source pixels per crop pixel
    # Crop pixel i's centre (i + 0.5) maps to source coordinate x0 + (i + 0.5) * step, whose pixel index
    # (OpenCV samples at pixel centres) is that minus 0.5.
    to_source = np.array([[step, 0, x0 + 0.5 * step - 0.5], [0, step, y0 + 0.5 * step - 0.5]])
    return cv2.warpAffine(image, to_source, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def write_jpeg(path, image, quality):
    """JPEG at `quality`, written to a temporary name and renamed."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the crop as JPEG")
    with atomic_write(path, "wb") as f:
        f.write(encoded.tobytes())
