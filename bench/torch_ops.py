#!/usr/bin/python3
"""Times ipex-benchmark's cases in PyTorch, for the side-by-side column.

Reads the case list (JSON: op, dtype, params) on stdin and prints one median
milliseconds per case, in order. The params mean the same as in bench/bench_*.c.
Attention is the plain softmax(q k^T / sqrt(d)) v with the full score matrix, as
torch 1.13 (Debian 12) has no fused scaled_dot_product_attention.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F


def case_fn(op, p, dt):
    r = lambda *s: torch.randn(*s, dtype=torch.float32).to(dt)  # noqa: E731
    if op == "conv2d":
        n, c, k, h, w, ks, stride, pad = p
        x, wt, b = r(n, c, h, w), r(k, c, ks, ks), r(k)
        return lambda: F.conv2d(x, wt, b, stride=stride, padding=pad)
    if op == "matmul":
        m, k, n = p
        a, b = r(1, m, k), r(1, k, n)
        return lambda: torch.matmul(a, b)
    if op == "linear":
        m, i, o = p
        x, w, b = r(m, i), r(o, i), r(o)
        return lambda: F.linear(x, w, b)
    if op == "attention":
        b, lq, lk, heads, d = p
        q, k = r(b, heads, lq, d), r(b, heads, lk, d)
        return lambda: torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * d ** -0.5, -1), k)
    if op == "group_norm":
        n, c, h, w, g = p
        x, gb = r(n, c, h, w), r(c)
        return lambda: F.silu(F.group_norm(x, g, gb, gb, 1e-5))
    if op == "group_norm_nhwc":
        n, c, h, w, g = p
        x, gb = r(n, c, h, w).contiguous(memory_format=torch.channels_last), r(c)
        return lambda: F.silu(F.group_norm(x, g, gb, gb, 1e-5))
    if op == "layer_norm":
        m, c = p
        x, gb = r(m, c), r(c)
        return lambda: F.layer_norm(x, (c,), gb, gb, 1e-5)
    if op == "softmax":
        m, c = p
        x = r(m, c)
        return lambda: torch.softmax(x, -1)
    if op == "geglu":
        m, c = p
        x = r(m, c)
        return lambda: (lambda a, g: a * F.gelu(g))(*x.chunk(2, -1))
    raise ValueError(op)


def time_ms(fn, min_seconds, min_iters=3):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    with torch.inference_mode():
        for c in json.load(sys.stdin):
            ms = time_ms(case_fn(c["op"], [int(v) for v in c["params"]], dtypes[c["dtype"]]),
                         args.min_seconds)
            print("%.4f" % ms, flush=True)


if __name__ == "__main__":
    main()
