#!/usr/bin/env python3
"""PyTorch CPU baseline for per-example CLIP gradients (compare with trak's Go code).

Uses the independent reference model in clip_reference.py (float32 here).
For each (model, batch size, mode) it times the per-example gradient computation:
  mode "retain": one forward of the batch, then for every example b: zero grads,
                 s_b.backward(retain_graph=True)  (each backward walks the whole
                 batch's graph, so cost per example grows with B);
  mode "loop":   for every example b: forward of example b alone, backward;
and after each backward copies the flattened gradient (named_parameters()
order) into one reused length-p float32 buffer (what a projection would consume;
a (B, p) buffer would be 4.8 GB for ViT-B-32 at B = 8). s_b = phi_b.u_b + psi_b.v_b + phi_b.psi_b as in
the fixtures. Each configuration runs in its own subprocess so that peak RSS
(resource.getrusage ru_maxrss) is per configuration.

Usage (from the repository root):
    /usr/bin/python3 scripts/reference/bench_torch.py --threads 2
    /usr/bin/python3 scripts/reference/bench_torch.py --threads 2 --vit-b-32 --examples 8
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import blas_info  # noqa: E402
import clip_reference as ref  # noqa: E402


def run_one(model_name, batch, examples, threads, warmup, mode):
    torch.set_num_threads(threads)
    cfg = ref.CONFIGS[model_name] if model_name in ref.CONFIGS else ref.VIT_B_32
    d = ref.dims(cfg)
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    model = ref.CLIP(cfg, torch.float32)
    ref.init_params(model, gen)
    init_s = time.perf_counter() - t0
    params = list(model.parameters())
    p = sum(x.numel() for x in params)
    g = torch.empty(p, dtype=torch.float32)

    def inputs():
        images = torch.randn(batch, 3, d["S"], d["S"], generator=gen)
        tokens = torch.zeros(batch, d["ctx"], dtype=torch.int64)
        for b in range(batch):
            n = 1 + (b * 7) % (d["ctx"] - 2)
            tokens[b, 0] = d["vocab"] - 2
            tokens[b, 1:1 + n] = torch.randint(1, d["vocab"] - 2, (n,), generator=gen)
            tokens[b, 1 + n] = d["vocab"] - 1
        u = torch.randn(batch, d["E"], generator=gen)
        v = torch.randn(batch, d["E"], generator=gen)
        return images, tokens, u, v

    def step(images, tokens, u, v):
        if mode == "retain":
            s = ref.scalar_s(model, images, tokens, u, v)
        for b in range(batch):
            for x in params:
                x.grad = None
            if mode == "retain":
                s[b].backward(retain_graph=b < batch - 1)
            else:
                ref.scalar_s(model, images[b:b + 1], tokens[b:b + 1], u[b:b + 1], v[b:b + 1])[0].backward()
            off = 0
            for x in params:
                n = x.numel()
                if x.grad is None:
                    g[off:off + n].zero_()
                else:
                    g[off:off + n].copy_(x.grad.reshape(-1))
                off += n

    if warmup:  # warm up twice on one example (a batched "retain" warm-up would cost B backwards):
        x = inputs()  # PyTorch's first backward passes are 2-3x slower than later ones
        for _ in range(2):
            for t in params:
                t.grad = None
            ref.scalar_s(model, x[0][:1], x[1][:1], x[2][:1], x[3][:1])[0].backward()
    steps = max(1, examples // batch)
    data = [inputs() for _ in range(steps)]
    t0 = time.perf_counter()
    for x in data:
        step(*x)
    dt = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return dict(model=model_name, mode=mode, batch=batch, threads=threads, p=p, examples=steps * batch,
                seconds=dt, ex_per_s=steps * batch / dt, peak_rss_mib=rss_kib / 1024.0, init_s=init_s)


def blas_in_use():
    """The BLAS this process's torch calls, after a first product loads it."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    paths, core = blas_info.blas_libraries()
    return (", ".join(paths) or "none found") + (" (OpenBLAS core %s)" % core if core else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--vit-b-32", action="store_true", help="also benchmark a random ViT-B-32 (slow)")
    ap.add_argument("--examples", type=int, default=8, help="examples timed per ViT-B-32 configuration")
    ap.add_argument("--tiny-examples", type=int, default=480, help="examples timed per tiny configuration")
    ap.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    ap.add_argument("--modes", default="loop,retain", help="comma-separated: loop, retain")
    ap.add_argument("--single", help=argparse.SUPPRESS)  # internal: model:batch:examples:warmup:mode
    args = ap.parse_args()

    if args.single:
        m, b, n, w, mode = args.single.split(":")
        print(json.dumps(run_one(m, int(b), int(n), args.threads, int(w), mode)))
        return

    jobs = []
    batches = [int(x) for x in args.batches.split(",")]
    modes = args.modes.split(",")
    models = [("tiny-gelu", args.tiny_examples, 1)] + ([("ViT-B-32", args.examples, 1)] if args.vit_b_32 else [])
    for m, n, w in models:
        for b in batches:
            for mode in modes:
                if b == 1 and mode != modes[0]:
                    continue  # identical work at B = 1
                jobs.append((m, b, max(n, b), w, mode))
    print("torch %s, float32, CPU, %d thread(s) (%d CPUs, load average %.1f at start); loop = forward+backward "
          "per example, retain = batched forward + per-example backward(retain_graph)"
          % (torch.__version__, args.threads, os.cpu_count(), os.getloadavg()[0]))
    print("BLAS: %s" % blas_in_use())
    print("%-10s %11s %-6s %5s %8s %10s %12s %13s" % ("model", "params", "mode", "batch", "examples", "seconds", "examples/s", "peak RSS MiB"),
          flush=True)
    for m, b, n, w, mode in jobs:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", str(args.threads),
                              "--single", "%s:%d:%d:%d:%s" % (m, b, n, w, mode)],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print("%-10s %11d %-6s %5d %8d %10.3f %12.4g %13.0f" % (r["model"], r["p"], r["mode"], r["batch"], r["examples"],
                                                           r["seconds"], r["ex_per_s"], r["peak_rss_mib"]), flush=True)


if __name__ == "__main__":
    main()
