#!/usr/bin/env python3
"""Times the official MAR code (github.com/LTH14/mar) sampling MAR-B on the CPU.

A developer script for side-by-side comparisons with Tessera (see README.md next to it);
not part of CI or the test suite. It imports the official `models` and `diffusion` packages
from a checkout (`--repo`), builds MAR-B with the official factory `mar_base` and the
arguments of the README's MAR-B evaluation for 256 px ImageNet (vae_embed_dim 16,
vae_stride 16, patch_size 1, diffloss_d 6, diffloss_w 1024) plus the KL-16 VAE, all with
random weights, and times what the official evaluation runs per batch:
`sample_tokens(bsz, num_iter=64, cfg=2.9, cfg_schedule="linear", labels, temperature=1.0)`
followed by `vae.decode(tokens / 0.2325)`. PEER_BENCH.md's MAR-B row uses 64 iterations and
100 diffusion steps; the default here is 25 diffusion steps (`--diffusion-steps`) to keep
runs short. Phases, stand-ins and the CPU adjustments as in far_sample.py, whose helpers
this script imports. Output: one JSON line on stdout; everything else goes to stderr.

Nothing of the official code is copied here: it is imported from the checkout as it is.
"""
import argparse
import contextlib
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import far_sample as common  # noqa: E402  (sets OMP_WAIT_POLICY before torch is imported)


def parse_args():
    p = argparse.ArgumentParser(description='Time the official MAR code sampling MAR-B on the CPU (one JSON line on stdout).')
    common.common_args(p)
    p.add_argument('--model', default='mar_base', help='official factory (default mar_base; mar_large / mar_huge need their diffloss size)')
    p.add_argument('--diffloss-d', type=int, default=6, help='diffusion MLP depth (default 6, MAR-B)')
    p.add_argument('--diffloss-w', type=int, default=1024, help='diffusion MLP width (default 1024)')
    p.add_argument('--num-iter', type=int, default=64, help='autoregressive iterations (default 64, as PEER_BENCH.md; fewer only to check the script)')
    p.add_argument('--cfg', type=float, default=2.9, help='guidance scale (default 2.9, the README\'s MAR-B evaluation)')
    p.add_argument('--cfg-schedule', default='linear', help='linear (default) or constant')
    return p.parse_args()


def main():
    prog = 'mar_sample.py'
    args = parse_args()
    torch, np, stubbed = common.setup(prog, args, 'mar.py')

    with contextlib.redirect_stdout(sys.stderr):  # the official code may print while building
        from models import mar
        torch.manual_seed(args.seed)
        model = mar.__dict__[args.model](
            img_size=256, vae_stride=16, patch_size=1, vae_embed_dim=16,
            class_num=1000, diffloss_d=args.diffloss_d, diffloss_w=args.diffloss_w,
            num_sampling_steps=str(args.diffusion_steps),
        )
        vae = common.build_vae(torch, args.seed + 1)
    common.prepare(model, vae, args.blocks)

    B = args.batch
    labels = torch.tensor([(i * 37) % 1000 for i in range(B)], dtype=torch.long)  # as Tessera's bench (class 0 at batch 1)

    def sample_tokens():
        return model.sample_tokens(bsz=B, num_iter=args.num_iter, cfg=args.cfg, cfg_schedule=args.cfg_schedule, labels=labels, temperature=args.temperature)

    runs, warmup_s, finite, head_calls = common.time_sampling(prog, torch, np, model, vae, sample_tokens, args)
    common.report('official MAR', torch, args, runs, warmup_s, finite, head_calls, stubbed, {
        'model': args.model,
        'settings': {'entry': 'sample_tokens + vae.decode', 'num_iter': args.num_iter, 'cfg': args.cfg, 'cfg_schedule': args.cfg_schedule,
                     'temperature': args.temperature, 'diffloss_d': args.diffloss_d, 'diffloss_w': args.diffloss_w, 'g_seed': args.g_seed},
    })


if __name__ == '__main__':
    main()
