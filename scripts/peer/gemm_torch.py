#!/usr/bin/env python3
"""Times fp32 GEMM chains in torch (the peer's kernel: Debian's torch on OpenBLAS).

For each shape (M, K, N) it builds `--depth` pairs of random weights W1 [K, N], W2 [N, K]
and times y = ((x @ W1a) @ W2a) @ W1b ... (2 * depth GEMMs: [M, K] x [K, N] then
[M, N] x [N, K]), under torch.inference_mode with `--threads` threads, one warm-up, then
`--reps` timed runs. Prints one JSON line: {"shape": "MxKxN", "gflops": [per rep]} per
shape, inside {"system": "torch", "torch": version, "results": [...]}. A developer
script for gemm-side-by-side.mjs; see README.md next to it.
"""
import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--shapes', required=True, help='comma-separated MxKxN')
    p.add_argument('--depth', type=int, default=4)
    p.add_argument('--reps', type=int, default=6)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    results = []
    with torch.inference_mode():
        for spec in a.shapes.split(','):
            m, k, n = (int(v) for v in spec.split('x'))
            ws = [(torch.rand(k, n) - 0.5, torch.rand(n, k) - 0.5) for _ in range(a.depth)]
            x = torch.rand(m, k) - 0.5

            def chain():
                y = x
                for w1, w2 in ws:
                    y = (y @ w1) @ w2
                return y

            chain()
            flops = 4.0 * m * k * n * a.depth
            rates = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                chain()
                rates.append(flops / (time.perf_counter() - t0) / 1e9)
            results.append({'shape': spec, 'gflops': rates})
    print(json.dumps({'system': 'torch', 'torch': torch.__version__, 'threads': a.threads,
                      'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'), 'results': results}))


if __name__ == '__main__':
    sys.exit(main())
