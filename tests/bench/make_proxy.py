#!/usr/bin/env python3
"""The 6-D proxy cloud of IGMN.md: Fashion-MNIST training images (60000 x 784, /255), projected on
their 6 leading principal axes (eigh of the covariance; each axis signed so that its largest
|loading| is positive), then scaled by one common factor so that sigmasq (mean squared distance
from the mean) is 6.65, the write-up's value. Rows in file order, float32 little-endian.

    /usr/bin/python3 make_proxy.py OUT.f32 [N] [--labels OUT.i32]
"""
import gzip
import os
import sys

import numpy as np

SRC = os.environ.get("GS_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
SIGMASQ = 6.65


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def proxy_cloud(D=6):
    X = read_idx(os.path.join(SRC, "train-images-idx3-ubyte.gz")).reshape(60000, -1).astype(np.float64) / 255.0
    y = read_idx(os.path.join(SRC, "train-labels-idx1-ubyte.gz")).astype(np.int32)
    Xc = X - X.mean(0)
    w, V = np.linalg.eigh(Xc.T @ Xc / X.shape[0])
    V = V[:, ::-1][:, :D]
    V *= np.sign(V[np.abs(V).argmax(0), np.arange(D)])
    Z = Xc @ V
    Z *= np.sqrt(SIGMASQ / np.mean(np.sum(Z * Z, axis=1)))
    return Z.astype(np.float32), y


if __name__ == "__main__":
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else 60000
    Z, y = proxy_cloud()
    Z[:n].astype("<f4").tofile(out)
    if "--labels" in sys.argv:
        y[:n].astype("<i4").tofile(sys.argv[sys.argv.index("--labels") + 1])
