#!/usr/bin/python3
"""scikit-learn's side of tests/bench/probe_speed.sh: linear probes on Fashion-MNIST pixels (/255),
standardised with the labelled subset's mean and std (as gensweep does), C = 1. LinearSVC
(squared hinge, L2; dual for subsets smaller than the 785 features, primal otherwise, as
gensweep picks and as ../shared/reference/torch/features_svm.py does for all labels) and
LogisticRegression(solver="liblinear"). Class-balanced subsets of `budget` images, `repeats`
draws (numpy seeds 0..R-1). Prints one line per (classifier, budget), as bench_probe does:
  sklearn <clf> budget <b>: acc <mean> +- <std> % over <R>, fit <s> s (<s per fit>)
Usage: probe_speed.py [--budgets 1000,100] [--repeats 10] [--tol 0.01] [--classifier svm|lr|both]"""
import argparse
import gzip
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

D = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    with gzip.open(D + name) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


ap = argparse.ArgumentParser()
ap.add_argument("--budgets", default="1000,100")
ap.add_argument("--repeats", type=int, default=10)
ap.add_argument("--tol", type=float, default=0.01)
ap.add_argument("--classifier", default="both")
a = ap.parse_args()
X = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
y = idx("train-labels-idx1-ubyte.gz", 8).astype(int)
T = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
yt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(int)
for clf in ("svm", "lr"):
    if a.classifier not in ("both", clf):
        continue
    for b in [int(v) for v in a.budgets.split(",")]:
        R = 1 if b == 0 else a.repeats
        accs, fit = [], 0.0
        for r in range(R):
            if b == 0:
                sub = np.arange(len(y))
            else:
                rng = np.random.default_rng(r)
                sub = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == k), b // 10, replace=False)
                                              for k in range(10)]))
            m = len(sub)
            t0 = time.perf_counter()
            mu, sd = X[sub].mean(0), X[sub].std(0)
            sd[sd == 0] = 1
            Xs, Ts = (X[sub] - mu) / sd, (T - mu) / sd
            if clf == "svm":
                model = LinearSVC(C=1.0, loss="squared_hinge", dual=m < 785, tol=a.tol, max_iter=1000)
            else:
                model = LogisticRegression(solver="liblinear", C=1.0, tol=a.tol, dual=m < 785, max_iter=100)
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(Xs, y[sub])
            fit += time.perf_counter() - t0
            accs.append(100 * (model.predict(Ts) == yt).mean())
        acc = np.array(accs)
        print(f"sklearn {clf} budget {m if b == 0 else b}: acc {acc.mean():.2f} +- {acc.std():.2f} % over {R}, "
              f"fit {fit:.2f} s ({fit / R:.3f} s per fit)", flush=True)
