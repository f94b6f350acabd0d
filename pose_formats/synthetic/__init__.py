"""A synthetic data set in the layout of Human3.6M's list files (SPEC sections 3 and 11), one module per
concept: subjects (names, seeded bone lengths, random streams), motions (the sinusoid motion table and
the default motion source), kinematics (joint angles to positions), cameras (the 4-camera rig), labels
(crops, normalised labels, clip markers) and dataset (rendering and writing the files).

Conventions. World: millimetres, y up, floor at y = 0. Body frame (before the heading): x = the subject's
left, y = up, z = forward. Camera: OpenCV (x right, y down, z forward), X_cam = R X_world + t, no lens
distortion.
"""
from .dataset import (LIST_MPII, LIST_TEST, LIST_TEST_P3, LIST_TRAIN, LIST_TRAIN_P3, META, MPII_CAMERA,
                      P1_TEST_SUBJECTS, P1_TRAIN_SUBJECTS, RAW_POSES, SyntheticConfig, generate, parse_subjects)

__all__ = ["LIST_MPII", "LIST_TEST", "LIST_TEST_P3", "LIST_TRAIN", "LIST_TRAIN_P3", "META", "MPII_CAMERA",
           "P1_TEST_SUBJECTS", "P1_TRAIN_SUBJECTS", "RAW_POSES", "SyntheticConfig", "generate", "parse_subjects"]
