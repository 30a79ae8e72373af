#!/usr/bin/env python3
"""Times the official VAR code (github.com/FoundationVision/VAR) sampling VAR-d16 on the CPU.

A developer script for side-by-side comparisons with Tessera (see README.md next to it);
not part of CI or the test suite. It imports the official `models` package from a checkout
(`--repo`), builds VAR-d16 + the VQVAE (ch 160, 4096 codes, 32 channels) with the official
`build_vae_var` and random weights, and times `autoregressive_infer_cfg` at the settings of
shared/PEER_BENCH.md (cfg 1.5, top-k 900, top-p 0.96, more_smooth off). The VQVAE decode
(`fhat_to_img`) is timed separately by wrapping that one method on the instance for the
run; the results are unchanged. Output: one JSON line on stdout; everything else (the
official code's prints, progress) goes to stderr.

Nothing of the official code is copied here: it is imported from the checkout as it is.
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import types

# OpenMP threads that spin while waiting fight with OpenBLAS's own threads over the cores
# (PEER_BENCH.md: 19.4 s instead of 8.4 s for VAR-d16 on 2 cores). The variable must be set
# before the OpenMP runtime starts, i.e. before torch is imported.
OMP_POLICY_SET_HERE = 'OMP_WAIT_POLICY' not in os.environ
if OMP_POLICY_SET_HERE:
    os.environ['OMP_WAIT_POLICY'] = 'PASSIVE'


def parse_args():
    p = argparse.ArgumentParser(description='Time the official VAR code sampling VAR-d16 on the CPU (one JSON line on stdout).')
    p.add_argument('--repo', required=True, help='checkout of github.com/FoundationVision/VAR (the folder holding models/ and dist.py)')
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    p.add_argument('--batch', type=int, default=1, help='images per call (default 1)')
    p.add_argument('--runs', type=int, default=3, help='measured runs after one warm-up; the median is reported (default 3)')
    p.add_argument('--depth', type=int, default=16, help='VAR depth (default 16; smaller only to check the script quickly)')
    p.add_argument('--patch-nums', default='1,2,3,4,5,6,8,10,13,16', help='scales (default the 10 scales of 256 px; e.g. 1,2,3 for a quick check)')
    p.add_argument('--cfg', type=float, default=1.5)
    p.add_argument('--top-k', type=int, default=900)
    p.add_argument('--top-p', type=float, default=0.96)
    p.add_argument('--seed', type=int, default=1, help='torch.manual_seed for the random weights (default 1)')
    p.add_argument('--g-seed', type=int, default=11, help='sampling seed passed as g_seed (default 11)')
    return p.parse_args()


def install_stubs():
    """models/var.py imports huggingface_hub only for its hub mixin class (VARHF, unused
    here). Where the package is missing, an empty stand-in module is registered in
    sys.modules; the checkout is not edited."""
    stubbed = []
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        hub = types.ModuleType('huggingface_hub')

        class PyTorchModelHubMixin:
            def __init_subclass__(cls, **kwargs):
                super().__init_subclass__()

        hub.PyTorchModelHubMixin = PyTorchModelHubMixin
        sys.modules['huggingface_hub'] = hub
        stubbed.append('huggingface_hub')
    return stubbed


def build(torch, args):
    """VAR + VQVAE through the official build_vae_var, on the CPU, random weights.

    build_vae_var replaces `reset_parameters` of the torch layer classes by a no-op (so the
    VQVAE's layers would hold uninitialised memory: possibly NaN or denormal floats, which
    do change CPU speed) and then runs VAR's own init_weights. Here the replaced methods are
    put back after the build and the VQVAE's layers get torch's default initialisation."""
    import torch.nn as nn
    from models import build_vae_var

    classes = (nn.Linear, nn.LayerNorm, nn.BatchNorm2d, nn.SyncBatchNorm, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    saved = {clz: clz.__dict__.get('reset_parameters') for clz in classes}
    patch_nums = tuple(int(s) for s in args.patch_nums.split(',') if s.strip())
    torch.manual_seed(args.seed)
    try:
        vae, var = build_vae_var(
            device='cpu', patch_nums=patch_nums,
            V=4096, Cvae=32, ch=160, share_quant_resi=4,
            num_classes=1000, depth=args.depth, shared_aln=False, attn_l2_norm=True,
            flash_if_available=False, fused_if_available=False,
            init_adaln=0.5, init_adaln_gamma=1e-5, init_head=0.02, init_std=-1,
        )
    finally:
        for clz, fn in saved.items():
            if fn is None:
                if 'reset_parameters' in clz.__dict__:
                    delattr(clz, 'reset_parameters')
            else:
                setattr(clz, 'reset_parameters', fn)
    with torch.no_grad():
        for m in vae.modules():
            if hasattr(m, 'reset_parameters') and callable(m.reset_parameters):
                m.reset_parameters()
    vae.eval()
    var.eval()  # no drop-path while sampling
    for p in list(vae.parameters()) + list(var.parameters()):
        p.requires_grad_(False)
    return vae, var, patch_nums


def main():
    args = parse_args()
    repo = os.path.abspath(args.repo)
    if not os.path.isfile(os.path.join(repo, 'models', 'var.py')):
        sys.exit(f'var_sample.py: {repo} is not a checkout of FoundationVision/VAR (models/var.py missing)')
    if OMP_POLICY_SET_HERE:
        print('var_sample.py: OMP_WAIT_POLICY was not set; set to PASSIVE before importing torch', file=sys.stderr)
    elif os.environ['OMP_WAIT_POLICY'].upper() != 'PASSIVE':
        print(f"var_sample.py: warning: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (PEER_BENCH.md measures with PASSIVE)", file=sys.stderr)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, repo)  # the checkout's top-level `models` package and `dist` module
    stubbed = install_stubs()
    if stubbed:
        print(f"var_sample.py: stand-in modules for missing imports: {', '.join(stubbed)}", file=sys.stderr)

    with contextlib.redirect_stdout(sys.stderr):  # the official code prints while building
        vae, var, patch_nums = build(torch, args)

    B = args.batch
    labels = torch.tensor([(i * 37) % 1000 for i in range(B)], dtype=torch.long)  # as Tessera's bench

    # Measure-only wrapper of the decode on this instance (vae is var.vae_proxy[0]).
    decoder = var.vae_proxy[0]
    original_decode = decoder.fhat_to_img
    marks = {}

    def timed_decode(f_hat):
        marks['decode_start'] = time.perf_counter()
        out = original_decode(f_hat)
        marks['decode_end'] = time.perf_counter()
        return out

    decoder.fhat_to_img = timed_decode

    def once():
        marks.clear()
        t0 = time.perf_counter()
        img = var.autoregressive_infer_cfg(B, labels, g_seed=args.g_seed, cfg=args.cfg, top_k=args.top_k, top_p=args.top_p, more_smooth=False)
        t1 = time.perf_counter()
        return img, {
            'total': (t1 - t0) / B,
            'transformer': (marks['decode_start'] - t0) / B,
            'decode': (marks['decode_end'] - marks['decode_start']) / B,
        }

    try:
        with torch.inference_mode():
            img, warm = once()
            print(f'var_sample.py: warm-up {warm["total"] * B:.2f} s', file=sys.stderr)
            finite = bool(torch.isfinite(img).all())
            runs = []
            for i in range(args.runs):
                _, r = once()
                runs.append(r)
                print(f'var_sample.py: run {i + 1}/{args.runs} {r["total"] * B:.2f} s (transformer+sampling {r["transformer"] * B:.2f} s, decode {r["decode"] * B:.2f} s)', file=sys.stderr)
    finally:
        del decoder.fhat_to_img  # back to the class's method

    median = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    result = {
        'system': 'official VAR',
        's_per_image': median('total'),
        'transformer_s': median('transformer'),
        'decode_s': median('decode'),
        'runs': [r['total'] for r in runs],
        'transformer_runs': [r['transformer'] for r in runs],
        'decode_runs': [r['decode'] for r in runs],
        'warmup_s': warm['total'] * B,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'batch': B,
        'depth': args.depth,
        'patch_nums': list(patch_nums),
        'settings': {'cfg': args.cfg, 'top_k': args.top_k, 'top_p': args.top_p, 'more_smooth': False, 'g_seed': args.g_seed},
        'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
        'image_finite': finite,
        'stubbed_imports': stubbed,
    }
    print(json.dumps(result))


if __name__ == '__main__':
    main()
