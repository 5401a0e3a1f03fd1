#!/usr/bin/python3
"""Golden numbers for tests/unit/test_probe.c: scikit-learn's linear SVM and logistic regression
on the small synthetic problem that test_probe.c builds the same way (integer hashing, float32).
Run: /usr/bin/python3 tests/unit/data/probe_golden.py   (needs python3-sklearn)"""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

N_TRAIN, N_TEST, D, C = 400, 200, 20, 4


def u(i, j):  # the same hash as test_probe.c: uniform [0, 1) from (i, j)
    h = (i * 2654435761 + j * 40503 + 12345) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 2246822519) & 0xFFFFFFFF
    h ^= h >> 13
    return np.float32(h / 4294967296.0)


def problem(first, n):
    X = np.array([[u(first + i, j) for j in range(D)] for i in range(n)], dtype=np.float32)
    A = np.array([[((k * 31 + j * 17) % 13 - 6) / 6.0 for j in range(D)] for k in range(C)])
    s = X.astype(np.float64) @ A.T
    y = s.argmax(axis=1)
    for i in range(n):  # one label in eight replaced: not separable
        if u(first + i, 999) < 0.125:
            y[i] = int(u(first + i, 998) * C)
    return X, y


Xtr, ytr = problem(0, N_TRAIN)
Xte, yte = problem(100000, N_TEST)
# all 400 rows: the primal solvers; the first 20 (fewer than the D + 1 features): the dual ones, as gensweep picks
for rows, dual in ((N_TRAIN, False), (20, True)):
    X, y = Xtr[:rows], ytr[:rows]
    sc = StandardScaler().fit(X)
    for name, clf in (("svm", LinearSVC(C=1.0, loss="squared_hinge", dual=dual, tol=1e-4, max_iter=100000)),
                      ("lr", LogisticRegression(solver="liblinear", dual=dual, C=1.0, tol=1e-4))):
        clf.fit(sc.transform(X), y)
        acc = (clf.predict(sc.transform(Xte)) == yte).mean()
        print(f"{rows} rows, {'dual' if dual else 'primal'} {name}: test accuracy {acc:.4f}  "
              f"train labels per class {np.bincount(y, minlength=C).tolist()}")
