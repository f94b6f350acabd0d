"""Batches of (image, label) rows from a list file, as the released ImageDataLstm layer made them,
prepared ahead of time on background threads (OpenCV releases the GIL while decoding and resizing).

Images are read as Caffe read them: OpenCV, BGR channel order, bilinear `cv::resize` to
new_height x new_width, then (pixel - mean_value) * scale, in N x 3 x H x W float32.
"""
import concurrent.futures
import os
import queue
import threading

import cv2
import numpy as np

from .listfile import parse_list_file

# Caffe's data transformer as the released data layers set it: (pixel - 128) / 256.
MEAN_VALUE = 128.0
SCALE = 1.0 / 256


def transform_image(bgr, new_height, new_width, mean_value, scale, out=None):
    """(H, W, 3) uint8 BGR -> (3, new_height, new_width) float32 (written into `out` when given), as
    Caffe's data transformer: (pixel - mean_value) * scale in float32 after a bilinear resize."""
    if bgr.shape[0] != new_height or bgr.shape[1] != new_width:
        bgr = cv2.resize(bgr, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    # cv2.subtract to float32 then an in-place multiply: two passes that release the GIL.
    centred = cv2.subtract(bgr, (mean_value,) * 3 + (0.0,), dtype=cv2.CV_32F)
    centred *= np.float32(scale)
    if out is None:
        out = np.empty((3, new_height, new_width), np.float32)
    np.copyto(out, centred.transpose(2, 0, 1))
    return out


def load_image(path, new_height, new_width, mean_value, scale, out=None):
    """The transformed image, or None when OpenCV cannot read `path` (missing or not an image)."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return transform_image(bgr, new_height, new_width, mean_value, scale, out)


def read_images(listing, indices, root_folder, transform, map_fn=map):
    """The images of the list's frames `indices` (a ListFile's) as one (N, 3, H, W) float32 batch;
    `transform` is load_image's (new_height, new_width, mean_value, scale), and `map_fn` runs the
    decodes (a thread pool's map: side by side). ValueError naming the list line of an image that
    cannot be read."""
    data = np.empty((len(indices), 3, *transform[:2]), np.float32)

    def load(k):  # decodes and transforms straight into the image's slot of the batch
        return load_image(os.path.join(root_folder, listing.image_paths[indices[k]]), *transform, out=data[k])

    for k, image in enumerate(map_fn(load, range(len(indices)))):
        if image is None:
            raise ValueError(listing.image_error(indices[k], root_folder))
    return data


class BatchSampler:
    """Which lines make each batch. In order (wrapping around at the end of the list), or, with
    `shuffle_batch`, starting at a random line each time, the first item then opening a new clip.
    `shuffle_lines` shuffles the whole list at the start and at every wrap, as Caffe's ImageData."""

    def __init__(self, n_lines, batch_size, shuffle_batch=False, shuffle_lines=False, seed=0):
        self.n_lines = n_lines
        self.batch_size = batch_size
        self.shuffle_batch = shuffle_batch
        self.shuffle_lines = shuffle_lines
        self.rng = np.random.default_rng(seed)
        self.order = self._new_order()
        self.position = 0

    def _new_order(self):
        return self.rng.permutation(self.n_lines) if self.shuffle_lines else np.arange(self.n_lines)

    def skip(self, batches):
        """Draws `batches` batches' lines without loading them: where a resumed training run continues."""
        for _ in range(batches):
            self.next_batch()

    def next_batch(self):
        """(line indices of the batch, whether its first clip marker must be forced to 0)."""
        if self.shuffle_batch:
            start = int(self.rng.integers(self.n_lines))
            return self.order[(start + np.arange(self.batch_size)) % self.n_lines], True
        picked = []
        for _ in range(self.batch_size):
            picked.append(self.order[self.position])
            self.position += 1
            if self.position == self.n_lines:
                self.position = 0
                if self.shuffle_lines:
                    self.order = self._new_order()
        return np.array(picked), False


class ListFileBatches:
    """Iterator of (data (N,3,H,W) float32, labels (N,label_dim) float32) batches, `prefetch` ahead,
    from batch `start_batch` of the seeded sequence on."""

    def __init__(self, source, root_folder, label_dim, batch_size, new_height, new_width,
                 mean_value=MEAN_VALUE, scale=SCALE, shuffle_batch=False, shuffle_lines=False, seed=0,
                 prefetch=4, threads=2, start_batch=0):
        # Images are looked at when first read, not here: a stat of each of the ~300,000 lines of a
        # released training list would be most of a net's set-up.
        self.listing = parse_list_file(source, label_dim)
        self.root_folder = root_folder
        self.labels = self.listing.labels
        self.transform = (new_height, new_width, mean_value, scale)   # load_image's arguments
        self.batch_size = batch_size
        self.sampler = BatchSampler(len(self.labels), batch_size, shuffle_batch, shuffle_lines, seed)
        self.sampler.skip(start_batch)
        # Parallelism comes from these decode threads; OpenCV's own pool (process-wide) would fight them.
        cv2.setNumThreads(1)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
        self._ready = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._fill, daemon=True)
        self._worker.start()

    def _make_batch(self):
        indices, new_clip = self.sampler.next_batch()
        data = read_images(self.listing, indices, self.root_folder, self.transform, self._pool.map)
        labels = self.labels[indices].copy()
        if new_clip:
            labels[0, -1] = 0.0
        return data, labels

    def _fill(self):
        while not self._stop.is_set():
            try:
                item = self._make_batch()
            except Exception as e:  # handed to the consumer, which raises it in Caffe's forward
                item = e
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, Exception):
                return

    def next(self):
        item = self._ready.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self):
        self._stop.set()
        self._worker.join()
        self._pool.shutdown(wait=True)
