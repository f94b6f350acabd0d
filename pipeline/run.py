"""tools/train.sh: the steps, what each reads and writes, and the skip / resume rules."""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from evaluation.loss_curves import ITERATION_LINE
from pose_formats.atomic import atomic_write
from pose_formats.listfile import LIST_COARSE_POSES, LIST_MPII, LIST_TRAIN
from pose_formats.per_action import test_list_path
from pose_formats.skeleton import ACTIONS

from . import snapshots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_STAGES = ("cpm", "bilstm", "addsrr", "finetune_whole", "mask3d")   # the released order
TESTED_STAGES = ("addsrr", "finetune_whole", "mask3d")                   # the 3D stages, for the table
FINAL_STAGE = TESTED_STAGES[-1]
STEPS = ("data",) + TRAIN_STAGES + ("test", "convert", "online", "eval")
ONLINE_MODES = ("released", "independent", "paper")
# Layers a stage starts fresh (as released: the layers its predecessor's net does not have); every other
# parameter layer must come from the weights it starts from (tools/check_weights.py).
FRESH_LAYERS = {
    "cpm": ("fc-final",),   # the MPII-pretrained CPM has its own heads, not our 2D regression
    "bilstm": ("special_conv_1", "special_conv_2", "fa_conv_1", "fa_conv_2", "fc", "lstm1", "lstm2", "fc-final_16"),
    "addsrr": ("change_tmp", "change", "project_1", "project_2", "project_3", "project_2d"),
    "finetune_whole": (),
    "mask3d": (),
    "refine": (),
}
# fitted_refine fits the refine branch on bilstm's coarse poses of every COARSE_CLIP_STRIDE-th training
# clip: a third of the demo's clips fit it as well as all of them (docs/networks.md) in a third of the time.
COARSE_CLIP_STRIDE = 3

DEFAULTS = {
    "paper": dict(data="data/h36m", work="results/paper", cpm_weights="models/pose_iter_320000.caffemodel",
                  threads=None),
    # OpenBLAS's own thread count: on this project's 2-core Intel machine 2 threads trained cpm 1.5x
    # faster than 1 (BENCHMARKS.md); any count >= 2 trains byte-identical weights, 1 other ones.
    "demo": dict(data="data/synthetic", work="results/demo", cpm_weights="scratch", threads=None),
}

# What each step reads and writes (--help); <work> and <data> as given.
STEP_HELP = {
    "data": "demo: tools/make_synthetic_h36m.py writes <data> unless <data>/meta.json exists; paper: checks "
            f"the prepared lists (<data>/{LIST_TRAIN}, <data>/{LIST_MPII}, <data>/gt/test/test<a>.txt) and "
            "names what is missing",
    "cpm": "2D pose net, from --cpm-weights (paper: the MPII-pretrained pose_iter_320000) or from scratch "
           "-> <work>/models/cpm/",
    "bilstm": "2D-to-3D, from cpm's final snapshot -> <work>/models/bilstm/",
    "addsrr": "3D-to-2D, from bilstm's (with identity_refine, fitted_projector or fitted_refine via "
              "tools/init_refine.py: <work>/models/addsrr/init.caffemodel; fitted_projector first trains the "
              "projector stage, the projector alone on the training frames' 3D -> 2D pose pairs -> "
              "<work>/models/projector/; fitted_refine first writes bilstm's coarse poses of one "
              f"training clip in {COARSE_CLIP_STRIDE} (tools/coarse_poses.py -> <work>/models/{LIST_COARSE_POSES}) "
              "and trains the refine stage, the refine branch alone on them -> <work>/models/refine/) "
              "-> <work>/models/addsrr/",
    "finetune_whole": "everything, from addsrr's -> <work>/models/finetune_whole/",
    "mask3d": "joint-masked 3D, from finetune_whole's -> <work>/models/mask3d/ (the final model)",
    "test": "tools/test_all.sh per action: each 3D stage's model -> <work>/stages/<stage>/, the final "
            "one's files also in <work>/; the cpm model's 2D estimates -> <work>/result<a>_2d_norm.csv; with "
            "<data>/unseen/ (the unseen-motion set) the final and cpm models -> <work>/unseen/",
    "convert": "tools/gen_refinepkl.py on the final model -> <work>/refine.npz",
    "online": "tools/pred_v2.py, modes released, independent, paper, with our and ground-truth 2D -> "
              "<work>/result<a>_refined_*.csv, result<a>_online_*.csv (and in <work>/unseen/)",
    "eval": "tools/eval_h36m.py -> <work>/eval.json, eval.csv, ablation.md, figures/ (per-stage loss curves "
            "from <work>/logs/); the same in <work>/unseen/",
}


class PipelineError(Exception):
    """A one-line error for the user: what is wrong and with which file or option."""


def build_parser():
    steps = "\n".join(f"  {s:15s} {STEP_HELP[s]}" for s in STEPS)
    p = argparse.ArgumentParser(
        prog="train.sh", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The released training schedule end to end, resumable: a step whose outputs are complete "
                    "is skipped, a training stage killed mid-way resumes from its last snapshot (caffe train "
                    "-snapshot), and every file is written whole or not at all. Run it again after a kill.",
        epilog=f"steps, in order:\n{steps}\n\nThe nets and solvers are written into <work>/prototxt/ by "
               "tools/make_prototxt.py (with config.json); a rerun with other settings on the same <work> is "
               "refused.")
    p.add_argument("--config", required=True, choices=tuple(DEFAULTS), help="paper (368x368, released nets, GPU) "
                   "or demo (96x96, quarter widths, CPU, the embedded synthetic data)")
    p.add_argument("--data", help="the prepared data folder (default: data/h36m for paper, data/synthetic for demo)")
    p.add_argument("--work", help="where models and results go (default: results/<config>)")
    p.add_argument("--iterations", type=int, help="every stage's iteration count (smoke runs; default: the "
                   "configuration's)")
    p.add_argument("--snapshot", type=int, help="iterations between snapshots, where a killed stage resumes "
                   "(default: the configuration's, 2,000 for paper, 250 for demo)")
    p.add_argument("--gpu", type=int, help="train and test on this GPU (the GPU build of Caffe, make caffe-gpu)")
    p.add_argument("--from", dest="first", choices=STEPS, default=STEPS[0], help="first step to run")
    p.add_argument("--until", dest="last", choices=STEPS, default=STEPS[-1], help="last step to run")
    p.add_argument("--cpm-weights", help="caffemodel the cpm stage starts from, or 'scratch' (default: "
                   f"{DEFAULTS['paper']['cpm_weights']} for paper, scratch for demo)")
    p.add_argument("--improvements", help="comma-separated improvements over the released training, or 'none' "
                   "(default: the configuration's; tools/make_prototxt.py --help lists them)")
    p.add_argument("--threads", type=int, help="OpenBLAS threads of Caffe (default: OpenBLAS's own)")
    return p


def repo_path(path):
    """`path` (given relative to the caller's folder) as the tools see it from the repo root: relative
    where it lies inside the repo, else absolute."""
    full = os.path.abspath(path)
    rel = os.path.relpath(full, REPO)
    return full if rel.startswith("..") else rel


class Pipeline:
    def __init__(self, args):
        defaults = DEFAULTS[args.config]
        self.args = args
        self.config = args.config
        # Options are paths from the caller's folder; the defaults are the repo's own folders.
        self.data = repo_path(args.data) if args.data else defaults["data"]
        self.work = repo_path(args.work) if args.work else defaults["work"]
        self.prototxt = os.path.join(self.work, "prototxt")
        self.models = os.path.join(self.work, "models")
        self.logs = os.path.join(self.work, "logs")
        self.cpm_weights = (repo_path(args.cpm_weights) if args.cpm_weights not in (None, "scratch")
                            else args.cpm_weights or defaults["cpm_weights"])
        # Caffe's INFO lines carry the iterations and losses (progress, loss curves): never filtered out.
        self.env = dict(os.environ, GLOG_minloglevel="0")
        threads = args.threads or defaults["threads"]
        if threads:
            self.env["OPENBLAS_NUM_THREADS"] = str(threads)
        if args.gpu is not None:
            self.env["HPM_CAFFE"] = "gpu"
        self.start = time.monotonic()
        self.child = None

    # -- output -------------------------------------------------------------------------------------
    def step(self, text):
        print(f"\n== [{time.monotonic() - self.start:6.0f} s] {text}", flush=True)

    def run(self, command, log=None, filter_line=None, env=None):
        """Runs a tool from the repo root; its output goes to `log` (appended) or through, lines passed
        through `filter_line` (None: not shown). A failure ends the pipeline with the log's tail."""
        with (open(log, "a") if log else open(os.devnull, "w")) as log_file:
            self.child = subprocess.Popen(command, cwd=REPO, env=env or self.env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, bufsize=1,
                                          preexec_fn=die_with_parent)
            tail = []
            for line in self.child.stdout:
                log_file.write(line)
                tail = (tail + [line])[-20:]
                shown = filter_line(line) if filter_line else line
                if shown:
                    print(shown.rstrip("\n"), flush=True)
            code = self.child.wait()
            self.child = None
        if code != 0:
            sys.stderr.write("".join(tail))
            where = f" (log: {log})" if log else ""
            raise PipelineError(f"{os.path.basename(command[1] if command[0] == sys.executable else command[0])} "
                                f"failed with exit code {code}{where}")

    def python(self, tool, *args, **kwargs):
        # A tool that builds a net through pycaffe would print Caffe's whole net set-up at INFO level.
        self.run([sys.executable, os.path.join("tools", tool), *map(str, args)],
                 env=dict(self.env, GLOG_minloglevel="2"), **kwargs)

    # -- configuration ------------------------------------------------------------------------------
    def write_nets(self):
        """<work>/prototxt/ from tools/make_prototxt.py, which refuses a folder made with other settings."""
        # The solvers say where they run: `caffe train` without -gpu takes solver_mode from them, and a
        # CPU-only build aborts on GPU.
        command = ["--config", self.config, "--out", self.prototxt, "--data", self.data, "--models", self.models,
                   "--solver-mode", "CPU" if self.args.gpu is None else "GPU"]
        if self.args.iterations is not None:
            command += ["--iterations", self.args.iterations]
        if self.args.snapshot is not None:
            command += ["--snapshot", self.args.snapshot]
        if self.args.improvements is not None:
            command += ["--improvements", self.args.improvements]
        self.python("make_prototxt.py", *command)
        with open(os.path.join(self.prototxt, "config.json")) as f:
            self.settings = json.load(f)

    def iterations(self, stage):
        return self.settings["iters"][stage]

    # -- data ---------------------------------------------------------------------------------------
    def step_data(self):
        if self.config == "demo" and not os.path.exists(os.path.join(self.data, "meta.json")):
            self.step(f"generating the synthetic data set in {self.data}")
            self.python("make_synthetic_h36m.py", "--out", self.data)
        needed = {LIST_TRAIN: "tools/prepare_h36m.py", LIST_MPII: "tools/prepare_mpii.py"}
        for name, tool in needed.items():
            if not os.path.exists(os.path.join(self.data, name)):
                raise PipelineError(f"{os.path.join(self.data, name)} not found: prepare it with {tool} --out "
                                    f"{self.data} (docs/data.md)")
        actions = test_actions(self.data)
        if not actions:
            raise PipelineError(f"{self.data}/gt/test/: no test<a>.txt list with frames (tools/prepare_h36m.py)")
        missing = [f"{a} {ACTIONS[a - 1]}" for a in range(1, len(ACTIONS) + 1) if a not in actions]
        if missing:
            print(f"train.sh: {self.data} has test frames of {len(actions)} of 15 actions; missing: "
                  f"{', '.join(missing)} (a partial download?); they are left out of the table", flush=True)

    # -- training -----------------------------------------------------------------------------------
    def start_weights(self, stage):
        """The caffemodel a stage starts from, or None (from scratch)."""
        if stage == "projector":   # fitted_projector's own stage: the projector alone, from its fillers
            return None
        if stage == "refine":      # fitted_refine's own stage: from the identity branch, or its fillers
            return self.refine_start()
        if stage == "cpm":
            if self.cpm_weights == "scratch":
                return None
            if not os.path.exists(self.cpm_weights):
                raise PipelineError(f"--cpm-weights {self.cpm_weights} not found: the paper's cpm starts from "
                                    "the MPII-pretrained CPM (pose_iter_320000.caffemodel); give its path, or "
                                    "'scratch'")
            return self.cpm_weights
        previous = TRAIN_STAGES[TRAIN_STAGES.index(stage) - 1]
        if not snapshots.is_done(self.models, previous, self.iterations(previous)):
            raise PipelineError(f"{stage} starts from {previous}'s final snapshot, which is not there "
                                f"({snapshots.final_model(self.models, previous, self.iterations(previous))}); "
                                f"run from {previous}")
        weights = snapshots.final_model(self.models, previous, self.iterations(previous))
        return self.addsrr_start(weights) if stage == "addsrr" else weights

    def addsrr_start(self, bilstm_model):
        """addsrr's start: bilstm's model, or with identity_refine / fitted_projector / fitted_refine the
        one tools/init_refine.py writes from it (after the projector and refine stages they need)."""
        improvements = set(self.settings["improvements"])
        if not improvements & {"identity_refine", "fitted_projector", "fitted_refine"}:
            return bilstm_model
        init = os.path.join(self.models, "addsrr", "init.caffemodel")
        if os.path.exists(init):
            return init
        command = [bilstm_model, "--prototxt", os.path.join(self.prototxt, "addsrr", "train.prototxt"), "--out", init]
        if "fitted_refine" in improvements:
            self.write_coarse_poses(bilstm_model)
            self.train("refine")
            command += ["--refine-model", snapshots.final_model(self.models, "refine", self.iterations("refine"))]
        elif "identity_refine" not in improvements:
            command += ["--refine", "fillers"]
        if "fitted_projector" in improvements:
            self.train("projector")
            command += ["--projector", snapshots.final_model(self.models, "projector", self.iterations("projector"))]
        refine = ("the fitted refine branch" if "fitted_refine" in improvements else
                  "the refine branch's identity" if "identity_refine" in improvements else None)
        self.step("addsrr's start (tools/init_refine.py): " + " and ".join(
            filter(None, (refine, "the fitted projector" if "fitted_projector" in improvements else None))))
        self.python("init_refine.py", *command)
        return init

    def write_coarse_poses(self, bilstm_model):
        """fitted_refine's pose pairs: bilstm's coarse poses of every COARSE_CLIP_STRIDE-th training clip
        beside their ground-truth 3D poses (tools/coarse_poses.py), unless they are there."""
        pairs = os.path.join(self.models, LIST_COARSE_POSES)
        if os.path.exists(pairs):
            self.step(f"coarse poses of the training frames: done ({pairs}), skipped")
            return
        self.step(f"coarse poses of one training clip in {COARSE_CLIP_STRIDE} by {bilstm_model} -> {pairs}")
        os.makedirs(os.path.dirname(pairs), exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        self.python("coarse_poses.py", bilstm_model, "--prototxt", os.path.join(self.prototxt, "deploy.prototxt"),
                    "--list", os.path.join(self.data, LIST_TRAIN), "--root", self.data, "--every", COARSE_CLIP_STRIDE,
                    "--out", pairs, "--no-progress", *(["--gpu", self.args.gpu] if self.args.gpu is not None else []),
                    log=os.path.join(self.logs, "coarse_poses.log"), filter_line=lambda line: "  " + line)

    def refine_start(self):
        """The refine stage's start: the identity refine branch (identity_refine), or None (its fillers)."""
        if "identity_refine" not in self.settings["improvements"]:
            return None
        init = os.path.join(self.models, "refine", "init.caffemodel")
        if not os.path.exists(init):
            self.python("init_refine.py", "--prototxt", os.path.join(self.prototxt, "refine", "train.prototxt"),
                        "--out", init)
        return init

    def train(self, stage):
        total = self.iterations(stage)
        if snapshots.is_done(self.models, stage, total):
            self.step(f"{stage}: done ({snapshots.final_model(self.models, stage, total)}), skipped")
            return
        os.makedirs(os.path.join(self.models, stage), exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        log = os.path.join(self.logs, f"{stage}.log")
        command = ["caffe", "train", "-solver", os.path.join(self.prototxt, stage, "solver.prototxt")]
        env = dict(self.env)
        resume = snapshots.latest_snapshot(self.models, stage, total)
        if resume:
            done, state = resume
            self.step(f"caffe train {stage}: resuming at iteration {done} of {total} ({state})")
            command += ["-snapshot", state]
            env["HPM_START_ITERATION"] = str(done)
            keep_log_before(log, done)
        else:
            weights = self.start_weights(stage)
            self.step(f"caffe train {stage} ({total} iterations{', from ' + weights if weights else ''})")
            if weights:
                # Caffe itself would only log "Ignoring source layer" and train the rest from random.
                fresh = FRESH_LAYERS[stage]
                self.python("check_weights.py", os.path.join(self.prototxt, stage, "train.prototxt"), weights,
                            *(["--fresh", *fresh] if fresh else []))
                command += ["-weights", weights]
            if os.path.exists(log):
                os.unlink(log)
        if self.args.gpu is not None:
            command += ["-gpu", str(self.args.gpu)]
        def progress(line):
            m = ITERATION_LINE.search(line)
            return m and f"  {stage} iteration {m.group(1)}/{total}  loss {m.group(2)}"
        self.run(command, log=log, filter_line=progress, env=env)
        snapshots.mark_done(self.models, stage, total)

    # -- testing and after --------------------------------------------------------------------------
    def test_sets(self):
        """[(data folder, results folder, per-stage rows)]: the main test set, and the unseen-motion one
        where the data set has it (<data>/unseen/, the final model only)."""
        sets = [(self.data, self.work, True)]
        unseen = os.path.join(self.data, "unseen")
        if os.path.isdir(os.path.join(unseen, "gt", "test")):
            sets.append((unseen, os.path.join(self.work, "unseen"), False))
        return sets

    def step_test(self):
        for data, results, per_stage in self.test_sets():
            actions = test_actions(data)
            stages = TESTED_STAGES if per_stage else (FINAL_STAGE,)
            for stage in stages:
                out = os.path.join(results, "stages", stage) if per_stage else results
                self.test_model(stage, data, out, actions)
            if per_stage:
                self.step(f"the final model's ({FINAL_STAGE}) results -> {results}")
                final = os.path.join(results, "stages", FINAL_STAGE)
                for name in sorted(os.listdir(final)):
                    if name.endswith(".csv"):
                        with open(os.path.join(final, name), "rb") as src, \
                                atomic_write(os.path.join(results, name), "wb") as dst:
                            shutil.copyfileobj(src, dst)
            self.test_model("cpm", data, results, actions)

    def test_model(self, stage, data, out, actions):
        """tools/test_all.sh of a stage's final model on every action of `data` into `out`, unless its
        marker says it is done (the cpm model: the 2D estimates, the online stage's 2D input)."""
        marker = os.path.join(out, f"{stage}.DONE")
        what = "2D estimates of the cpm model" if stage == "cpm" else f"test of {stage}'s model"
        if os.path.exists(marker):
            self.step(f"{what} on {data}: done ({out}), skipped")
            return
        model = snapshots.final_model(self.models, stage, self.iterations(stage))
        if not snapshots.is_done(self.models, stage, self.iterations(stage)):
            raise PipelineError(f"test: {stage} has not finished ({model} missing); run from {stage}")
        self.step(f"{what} on every action of {data} -> {out}")
        template = os.path.join(self.prototxt, "test", "test_2d.prototxt" if stage == "cpm" else "test_3d.prototxt")
        command = ["tools/test_all.sh", "-t", template, "-d", data, "-a", ",".join(map(str, actions))]
        if self.args.gpu is not None:
            command += ["-g", str(self.args.gpu)]
        log = os.path.join(self.logs, f"test_{stage}{'_unseen' if data != self.data else ''}.log")
        self.run(command + [model, out], log=log, filter_line=lambda line: "  " + line)
        with atomic_write(marker) as f:
            f.write(model + "\n")

    def final_model(self):
        return snapshots.final_model(self.models, FINAL_STAGE, self.iterations(FINAL_STAGE))

    def step_convert(self):
        out = os.path.join(self.work, "refine.npz")
        if os.path.exists(out):
            self.step(f"converted weights: done ({out}), skipped")
            return
        self.step(f"converting the refine and projector weights of {self.final_model()}")
        self.python("gen_refinepkl.py", self.final_model(), "--prototxt", os.path.join(self.prototxt, "deploy.prototxt"),
                    "--out", out)

    def step_online(self):
        weights = os.path.join(self.work, "refine.npz")
        for data, results, _ in self.test_sets():
            actions = ",".join(map(str, test_actions(data)))
            for mode in ONLINE_MODES:
                for source in ("ours", "gt"):
                    self.step(f"online self-supervised correction on {results} ({mode} mode, "
                              f"{source.replace('ours', 'our')} 2D)")
                    # pred_v2 skips the actions whose output files exist.
                    self.python("pred_v2.py", "--weights", weights, "--gt-dir", os.path.join(data, "gt", "test"),
                                "--mode", mode, "--2d-source", source, "--actions", actions, "--no-progress", results,
                                filter_line=lambda line: "  " + line if line.startswith("mean") else None)

    def step_eval(self):
        for data, results, per_stage in self.test_sets():
            self.step(f"evaluation of {results}: the ablation table, diagnostics and loss curves")
            self.python("eval_h36m.py", "--gt-dir", os.path.join(data, "gt", "test"), "--image-root", data,
                        "--crop-px", self.settings["side"], "--actions", ",".join(map(str, test_actions(data))),
                        *(["--logs", self.logs, "--stages", os.path.join(results, "stages")] if per_stage else []),
                        results, log=os.path.join(self.logs, "eval.log"))
            self.step(f"done: table in {results}/ablation.md, eval.json; pictures in {results}/figures")

    def main(self):
        first, last = STEPS.index(self.args.first), STEPS.index(self.args.last)
        if first > last:
            raise PipelineError(f"--from {self.args.first} comes after --until {self.args.last}")
        self.write_nets()
        for step in STEPS[first:last + 1]:
            if step in TRAIN_STAGES:
                self.train(step)
            else:
                getattr(self, f"step_{step}")()


def die_with_parent():
    """In the child, before exec: a SIGKILL when the pipeline dies, so that a killed pipeline leaves no
    caffe train writing snapshots behind it (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def test_actions(data):
    """Actions whose test list in `data` exists and is not empty (a partial download has fewer)."""
    have = []
    for a in range(1, len(ACTIONS) + 1):
        path = test_list_path(os.path.join(data, "gt", "test"), a)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            have.append(a)
    return have


def keep_log_before(path, iteration):
    """Drops the log's lines from the first `Iteration k` with k >= `iteration` on: a resumed run
    writes them again, so the log reads as one uninterrupted run."""
    if not os.path.exists(path):
        return
    pattern = re.compile(r"\] Iteration (\d+)")
    kept = []
    with open(path) as f:
        for line in f:
            m = pattern.search(line)
            if m and int(m.group(1)) >= iteration:
                break
            kept.append(line)
    with atomic_write(path) as f:
        f.writelines(kept)


def main(argv=None):
    args = build_parser().parse_args(argv)
    for option in ("iterations", "snapshot"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            print(f"train.sh: --{option} must be at least 1", file=sys.stderr)
            return 2
    pipeline = Pipeline(args)
    os.chdir(REPO)   # the tools and the prototxts' paths are relative to the repo root

    def stop(signum, _frame):  # a kill of the pipeline stops its running tool too
        if pipeline.child is not None:
            pipeline.child.send_signal(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        pipeline.main()
    except PipelineError as e:
        print(f"train.sh: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("train.sh: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0
