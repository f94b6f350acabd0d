"""Real human motion from registry packages (CMU BVH, a Vicon CSM, DeepMimic clips) on our 16 joints:
readers with forward kinematics (bvh, csm, deepmimic), the clip catalogue with sources and licences,
and retargeting to a subject's bone lengths at the generator's frame rate (retarget)."""
