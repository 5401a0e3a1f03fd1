#!/usr/bin/python3
"""PyTorch reference of gensweep's pc_ae, written for tests/bench/pc_speed.sh (issue 12 point 7):
training throughput at one thread, run side by side with `gensweep run` on the same settings.

The model, as src/models/pointcloud.c builds it (pc_ae, defaults):
  encoder  per point, shared weights, one matmul over the B*N rows:
           3 -> 64 -> ReLU -> 128 -> ReLU -> 128 -> ReLU -> 256 -> ReLU, then a linear head
           256 -> Z and the max over each cloud's N points (no ReLU before the max)
  decoder  Z -> 256 -> ReLU -> 256 -> ReLU -> 3N (linear), reshaped to (B, N, 3)
  loss     per cloud the Chamfer distance of gs_chamfer (src/nn/pointcloud.c): squared distances,
           each direction the mean over its points, the two directions summed; mean over the batch
  init     Xavier-uniform weights, zero biases (as gensweep; matters for the values, not the speed)
  optim    Adam, lr 5e-4, betas (0.9, 0.999), eps 1e-7 (gensweep's train.* defaults for pc_ae), batch 32
The Chamfer distance is written the way a PyTorch user would write it: all pairwise squared
distances of a batch as |a|^2 + |b|^2 - 2 a.b^T with one bmm (--chamfer bmm, the default), or
torch.cdist(a, b)^2 (--chamfer cdist), then the min along each of the two dimensions.

Data: the clouds gensweep generated and cached (--data FILE: an HDF5 file with `data` (n, N, 3)
float32, e.g. <results>/.data/shapes-train-*.h5), or random clouds of the same size (--random n);
the time of a step does not depend on the values. Each epoch visits the clouds in a new random
order, full batches only (as gensweep: 1,280 clouds = 40 steps of 32).

Timing: --warmup-steps S untimed steps (the first steps fault in the memory and settle the
allocator), then --epochs E timed epochs; each timed epoch's wall time (time.perf_counter) and
this process's CPU time (time.process_time) around its steps (forward + backward + Adam step; the
loss read back as a float every step, as gensweep sums it), and its minor page faults.
Prints one line per epoch and, last, one JSON line:
  {"points": N, "clouds_per_s_wall": [...], "clouds_per_s_cpu": [...], "median_wall": ..., "median_cpu": ...,
   "torch": "<version>", "threads": 1, "interop_threads": 1, "chamfer": "bmm", "data": "...",
   "malloc": "<LD_PRELOAD or glibc>", "page_faults_per_step": ...}

Memory: eager PyTorch on the CPU allocates every intermediate afresh; at N = 2048 the batch's
distance matrix (32 x 2048 x 2048 floats) is 512 MB and a step makes about ten such tensors.
With glibc's malloc each is a new mmap, handed back at free, so every step faults in ~5 GB of
pages again. pc_speed.sh therefore runs this under jemalloc with freed pages kept
(MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1): after the warm-up a step faults no page.

Threads: torch.set_num_threads(--threads) and torch.set_num_interop_threads(1) before any work;
set OMP_NUM_THREADS=1 and MKL_NUM_THREADS=1 in the environment too (pc_speed.sh does).

  /usr/bin/python3 tests/bench/pc_ae_torch.py [--data FILE | --random n] [--points N] [--epochs E]
      [--warmup-steps S] [--batch 32] [--latent 128] [--threads 1] [--chamfer bmm|cdist] [--seed S]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", help="HDF5 file with `data` (n, N, 3) float32 (gensweep's shapes cache)")
    src.add_argument("--random", type=int, default=0, help="train on this many random clouds instead")
    p.add_argument("--points", type=int, default=2048, help="N (with --random; checked against --data)")
    p.add_argument("--clouds", type=int, default=0, help="use the first this many clouds of --data (0 = all)")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs")
    p.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--latent", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--chamfer", choices=("bmm", "cdist"), default="bmm")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


class PcAE(torch.nn.Module):
    def __init__(self, n_points, z=128, enc=(64, 128, 128, 256), dec=(256, 256)):
        super().__init__()
        self.n = n_points
        widths = (3,) + tuple(enc)
        self.enc = torch.nn.ModuleList(torch.nn.Linear(widths[k], widths[k + 1]) for k in range(len(enc)))
        self.head = torch.nn.Linear(enc[-1], z)
        self.dec = torch.nn.Sequential(
            torch.nn.Linear(z, dec[0]), torch.nn.ReLU(),
            torch.nn.Linear(dec[0], dec[1]), torch.nn.ReLU(),
            torch.nn.Linear(dec[1], 3 * n_points))
        for m in self.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                torch.nn.init.zeros_(m.bias)

    def encode(self, x):                      # x (B, N, 3) -> code (B, Z)
        b = x.shape[0]
        h = x.reshape(b * self.n, 3)          # one matmul per layer over all B*N points
        for layer in self.enc:
            h = torch.relu(layer(h))
        h = self.head(h)                      # linear, no ReLU before the max
        return h.reshape(b, self.n, -1).amax(dim=1)

    def forward(self, x):                     # (B, N, 3) -> reconstruction (B, N, 3)
        return self.dec(self.encode(x)).reshape(x.shape[0], self.n, 3)


def chamfer_bmm(a, b):
    """CD per cloud, a (B, N, 3), b (B, M, 3) -> (B): mean_i min_j |a_i - b_j|^2 + mean_j min_i."""
    d = (a * a).sum(-1).unsqueeze(2) + (b * b).sum(-1).unsqueeze(1) - 2.0 * torch.bmm(a, b.transpose(1, 2))
    return d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1)


def chamfer_cdist(a, b):
    d = torch.cdist(a, b) ** 2
    return d.min(dim=2).values.mean(dim=1) + d.min(dim=1).values.mean(dim=1)


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    if a.data:
        import h5py
        with h5py.File(a.data, "r") as f:
            ds = f["data"]
            n = ds.shape[0] if a.clouds <= 0 else min(a.clouds, ds.shape[0])
            clouds = np.ascontiguousarray(ds[:n], dtype=np.float32)
        if clouds.ndim != 3 or clouds.shape[2] != 3:
            sys.exit(f"pc_ae_torch.py: {a.data}: data is {clouds.shape}, not (n, N, 3)")
        if a.points and clouds.shape[1] != a.points:
            sys.exit(f"pc_ae_torch.py: {a.data} has N = {clouds.shape[1]} points per cloud, not {a.points}")
        x_all = torch.from_numpy(clouds)
        source = f"{a.data} ({x_all.shape[0]} clouds)"
    else:
        n = a.random or 1280
        x_all = torch.rand(n, a.points, 3) * 2 - 1
        source = f"random uniform clouds in [-1, 1]^3 ({n} clouds)"
    n_clouds, n_points = x_all.shape[0], x_all.shape[1]
    steps = n_clouds // a.batch
    if steps < 1:
        sys.exit(f"pc_ae_torch.py: {n_clouds} clouds is less than one batch of {a.batch}")
    model = PcAE(n_points, a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-7)
    chamfer = chamfer_bmm if a.chamfer == "bmm" else chamfer_cdist

    def epoch(nsteps):
        perm = torch.randperm(n_clouds)
        total = 0.0
        for s in range(nsteps):
            x = x_all[perm[s * a.batch:(s + 1) * a.batch]]
            opt.zero_grad(set_to_none=True)
            loss = chamfer(x, model(x)).mean()
            loss.backward()
            opt.step()
            total += loss.item()
        return total / max(nsteps, 1)

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    if a.warmup_steps > 0:
        t0, f0 = time.perf_counter(), faults()
        loss = epoch(min(a.warmup_steps, steps))
        print(f"warm-up: {min(a.warmup_steps, steps)} steps, {time.perf_counter() - t0:.2f} s wall, "
              f"{faults() - f0} page faults, loss {loss:.4f}", flush=True)
    wall, cpu, pf = [], [], []
    for e in range(a.epochs):
        t0, c0, f0 = time.perf_counter(), time.process_time(), faults()
        loss = epoch(steps)
        dw, dc = time.perf_counter() - t0, time.process_time() - c0
        wall.append(steps * a.batch / dw)
        cpu.append(steps * a.batch / dc)
        pf.append((faults() - f0) / steps)
        print(f"epoch {e + 1}: {steps} steps, {dw:.2f} s wall, {dc:.2f} s CPU ({100 * dc / dw:.0f} %): "
              f"{wall[-1]:.1f} clouds/s wall, {cpu[-1]:.1f} per CPU second, {pf[-1]:.0f} page faults a step, "
              f"loss {loss:.4f}", flush=True)
    print(json.dumps({"points": n_points, "clouds_per_s_wall": [round(v, 2) for v in wall],
                      "clouds_per_s_cpu": [round(v, 2) for v in cpu],
                      "median_wall": round(statistics.median(wall), 2) if wall else None,
                      "median_cpu": round(statistics.median(cpu), 2) if cpu else None,
                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "interop_threads": torch.get_num_interop_threads(), "chamfer": a.chamfer,
                      "data": source, "malloc": os.environ.get("LD_PRELOAD") or "glibc",
                      "page_faults_per_step": round(statistics.median(pf)) if pf else None}))


if __name__ == "__main__":
    main()
