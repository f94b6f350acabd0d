"""pose_formats.image_batches without Caffe: what importing it and making a reader do to OpenCV."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# In a fresh interpreter: OpenCV's thread count before the import, after it, and once a reader exists.
PROBE = r"""
import sys, cv2, numpy as np
cv2.setNumThreads(3)
from pose_formats.image_batches import ListFileBatches
after_import = cv2.getNumThreads()
folder = sys.argv[1]
cv2.imwrite(f"{folder}/0.png", np.zeros((8, 8, 3), np.uint8))
with open(f"{folder}/list.txt", "w") as f:
    f.write("0.png " + ",".join(["0.5"] * 80 + ["0"]) + "\n")
batches = ListFileBatches(f"{folder}/list.txt", folder, 81, 1, 8, 8)
data, labels = batches.next()
batches.close()
print(after_import, cv2.getNumThreads(), data.shape)
"""


def test_opencv_threads_are_set_by_the_reader_not_by_the_import(tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "1", "(1,", "3,", "8,", "8)"]
