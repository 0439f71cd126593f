#!/usr/bin/python3
"""Open a directory written by `trak export trak-py` as MadryLab's Python trak
library opens a save_dir, and check what it finds.

    scripts/export/check_trak_py.py DIR [--store SAVE_DIR]

The trak package itself needs PyTorch and is not installed here, so this
script repeats just the loading steps of the library's memory-mapped saver
with numpy alone:

  * metadata.json must hold "JL dimension", "JL matrix type" and
    "train set size" (the values a TRAKer is compared with);
  * every id_*.json under DIR (the library searches recursively) names one
    model and its is_featurized / is_finalized flags;
  * each model directory holds grads.mmap (N x k), out_to_loss.mmap (N x 1),
    features.mmap (N x k) and _is_featurized.mmap (N, int32), opened with
    numpy.lib.format.open_memmap; the library opens them read-write ('r+'),
    this script read-only ('r') so that it never changes them;
  * experiments.json lists each experiment's num_targets; its scores are
    scores/<exp>.mmap (N x T) and its target features <id>/<exp>_grads.mmap
    (T x k).

It then checks what the library relies on: every float array in one dtype
(float16 means use_half_precision=True, float32 False), every row flagged
featurized, status flags that agree with the arrays, and the scores equal to
what the library's finalize_scores computes from the exported arrays:
mean over the experiment's models of features @ target_grads.T, times the
mean out_to_loss. With --store it also compares every exported array with
the store's .npy file it came from.

Exit status 0 when every check passes, 1 otherwise. For users and
developers; the Go tests check the same files with trak's own reader.
"""

import argparse
import json
import pathlib
import sys

import numpy as np
from numpy.lib.format import open_memmap


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, ok, what):
        if not ok:
            self.failures += 1
            print(f"FAIL {what}")
        return ok


def load(path):
    # The library passes shape and dtype too, but numpy ignores them unless
    # it creates the file: an existing file is read as its header says.
    return open_memmap(path, mode="r")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--store", type=pathlib.Path, help="the trak store the directory was exported from")
    args = ap.parse_args()
    d = args.dir.resolve()
    c = Checker()

    meta = json.loads((d / "metadata.json").read_text())
    k, kind, n = int(meta["JL dimension"]), meta["JL matrix type"], int(meta["train set size"])
    print(f"metadata: JL dimension {k}, JL matrix type {kind!r}, train set size {n}")

    models = {}
    for p in sorted(d.rglob("id_*.json")):
        for key, status in json.loads(p.read_text()).items():
            models[int(key)] = status
    c.check(len(models) > 0, "no id_*.json: the library would find no models")

    float_dtypes = set()
    arrays = {}
    for mid, status in sorted(models.items()):
        pre = d / str(mid)
        for name, shape in (("grads", (n, k)), ("out_to_loss", (n, 1)), ("features", (n, k))):
            a = load(pre / f"{name}.mmap")
            c.check(a.shape == shape, f"model {mid} {name}.mmap shape {a.shape}, want {shape}")
            float_dtypes.add(a.dtype)
            arrays[(mid, name)] = a
        flags = load(pre / "_is_featurized.mmap")
        c.check(flags.dtype == np.int32 and flags.shape == (n,), f"model {mid} _is_featurized.mmap {flags.dtype} {flags.shape}, want int32 ({n},)")
        featurized = int(flags.sum() == n)
        c.check(status["is_featurized"] == featurized, f"model {mid}: id_{mid}.json says is_featurized {status['is_featurized']}, the flags say {featurized}")
        finalized = status["is_finalized"] == 1
        has_features = bool(np.any(arrays[(mid, "features")]))
        c.check(finalized == has_features, f"model {mid}: is_finalized {status['is_finalized']} but features.mmap is {'not ' if has_features else ''}all zero")
        print(f"model {mid}: is_featurized {status['is_featurized']}, is_finalized {status['is_finalized']}")

    experiments = json.loads((d / "experiments.json").read_text())
    for exp, e in sorted(experiments.items()):
        t = int(e["num_targets"])
        scores = load(d / "scores" / f"{exp}.mmap")
        c.check(scores.shape == (n, t), f"{exp}: scores shape {scores.shape}, want {(n, t)}")
        float_dtypes.add(scores.dtype)
        arrays[("scores", exp)] = scores
        # The models an experiment was scored with are those holding its
        # target features (the library's finalize_scores takes them as
        # model_ids, or skips the others with allow_skip=True).
        ids = [m for m in sorted(models) if (d / str(m) / f"{exp}_grads.mmap").exists()]
        c.check(len(ids) > 0, f"{exp}: no model holds {exp}_grads.mmap")
        acc = np.zeros((n, t))
        q = np.zeros((n, 1))
        for m in ids:
            g = load(d / str(m) / f"{exp}_grads.mmap")
            c.check(g.shape == (t, k), f"{exp}: model {m} target grads shape {g.shape}, want {(t, k)}")
            float_dtypes.add(g.dtype)
            arrays[(m, f"{exp}_grads")] = g
            acc += arrays[(m, "features")].astype(np.float64) @ g.astype(np.float64).T
            q += arrays[(m, "out_to_loss")].astype(np.float64)
        want = (acc / len(ids)) * (q / len(ids))
        scale = max(float(np.abs(want).max()), 1e-30)
        err = float(np.abs(scores.astype(np.float64) - want).max()) / scale
        tol = 2e-2 if scores.dtype == np.float16 else 1e-4
        c.check(err <= tol, f"{exp}: scores differ from finalize_scores' formula by {err:.3g} of the largest (tolerance {tol})")
        print(f"experiment {exp}: {t} targets, models {ids}; scores match the recomputation to {err:.2g} of the largest")

    c.check(len(float_dtypes) == 1, f"float arrays in several dtypes {sorted(map(str, float_dtypes))}: the library computes in one")
    if len(float_dtypes) == 1:
        dt = float_dtypes.pop()
        print(f"every float array is {dt}: open with use_half_precision={dt == np.float16}")

    if args.store:
        s = args.store.resolve()
        for key, a in arrays.items():
            if key[0] == "scores":
                src = s / "scores" / f"{key[1]}.npy"
            elif key[1] == "features" and not models[key[0]]["is_finalized"]:
                continue
            else:
                src = s / str(key[0]) / f"{key[1]}.npy"
            b = np.load(src, mmap_mode="r")
            same = b.shape == a.shape and np.array_equal(b.astype(a.dtype), a)
            c.check(same, f"{src} and its export differ")
        print(f"compared {len(arrays)} arrays with {s}")

    if c.failures:
        print(f"{c.failures} checks failed")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
