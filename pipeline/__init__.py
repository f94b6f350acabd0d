"""The released training schedule end to end, resumable (tools/train.sh): the Caffe stages in the
released order, each from the previous one's final snapshot, then the per-action tests, the weight
conversion, the online correction and the evaluation. Each step is a run of one of the project's tools;
this package only orders them, names their files and decides what is already done."""
