#!/usr/bin/env python3
"""Times the official FAR code (github.com/yuhuUSTC/FAR) sampling FAR-B on the CPU.

A developer script for side-by-side comparisons with Tessera (see README.md next to it);
not part of CI or the test suite. It imports the official `models` and `diffusion` packages
from a checkout (`--repo`), builds FAR-B with the official factory `far_base` and the
arguments of the checkout's sample.sh for 256 px ImageNet (vae_embed_dim 16, vae_stride 16,
patch_size 1, diffloss_d 6, diffloss_w 1024, no masking) plus the KL-16 VAE
(`AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4))`), all with random weights, and times
what the official evaluation runs per batch: `sample_tokens_nomask` (10 next-frequency
steps, cfg 3.0 linear, temperature 1.0) followed by `vae.decode(tokens / 0.2325)`.
The diffusion head's sampling (`diffloss.sample`) and the decode are timed separately by
wrapping those two methods on the instances for the run; the results are unchanged.
Output: one JSON line on stdout; everything else goes to stderr.

Nothing of the official code is copied here: it is imported from the checkout as it is.
The helpers below (stand-in modules, the CPU adjustments, the timing loop) are shared with
mar_sample.py, which imports them from this file.
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

# The checkout's latent scale, as its evaluation divides the sampled tokens before decoding.
KL16_SCALE = 0.2325


def say(prog, message):
    print(f'{prog}: {message}', file=sys.stderr)


def check_omp_policy(prog):
    if OMP_POLICY_SET_HERE:
        say(prog, 'OMP_WAIT_POLICY was not set; set to PASSIVE before importing torch')
    elif os.environ['OMP_WAIT_POLICY'].upper() != 'PASSIVE':
        say(prog, f"warning: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']} (PEER_BENCH.md measures with PASSIVE)")


def common_args(p, runs=1, diffusion_steps=25):
    p.add_argument('--repo', required=True, help='checkout of the official repository (the folder holding models/ and diffusion/)')
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads (default 2)')
    p.add_argument('--batch', type=int, default=1, help='images per call (default 1)')
    p.add_argument('--runs', type=int, default=runs, help=f'measured runs after one warm-up; the median is reported (default {runs})')
    p.add_argument('--diffusion-steps', type=int, default=diffusion_steps, help=f'diffusion sampling steps of the head, num_sampling_steps (default {diffusion_steps})')
    p.add_argument('--temperature', type=float, default=1.0, help='diffusion sampling temperature (default 1.0, as the official sampling commands)')
    p.add_argument('--blocks', type=int, default=None, help='keep only the first N encoder and N decoder blocks (only to check the script quickly)')
    p.add_argument('--seed', type=int, default=1, help='torch.manual_seed for the random weights (default 1)')
    p.add_argument('--g-seed', type=int, default=11, help='torch and numpy seed set before each sampling run (default 11)')


def install_stubs():
    """Stand-ins, registered in sys.modules only where the real package is missing (the
    checkout is not edited):

    - `timm.models.vision_transformer.Block`: the models build their encoder and decoder
      from it. The stand-in is the standard pre-norm ViT block (x + attn(norm1(x)), then
      x + mlp(norm2(x)); attention with a fused qkv projection, softmax(q k^T / sqrt(d)) v,
      an output projection; MLP fc1, GELU, fc2), with timm's sub-module names, computed the
      way timm 0.9 does on a torch without scaled_dot_product_attention (torch 1.13):
      plain matmuls and softmax. Dropout and drop-path are inactive in eval mode.
    - `tqdm` (only used for progress bars, which are off) and `matplotlib.pyplot` (imported,
      unused while sampling)."""
    import torch.nn as nn
    stubbed = []
    try:
        import timm.models.vision_transformer  # noqa: F401
    except ImportError:
        class Attention(nn.Module):
            def __init__(self, dim, num_heads, qkv_bias, attn_drop, proj_drop):
                super().__init__()
                self.num_heads = num_heads
                self.head_dim = dim // num_heads
                self.scale = self.head_dim ** -0.5
                self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
                self.attn_drop = nn.Dropout(attn_drop)
                self.proj = nn.Linear(dim, dim)
                self.proj_drop = nn.Dropout(proj_drop)

            def forward(self, x):
                b, n, c = x.shape
                q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
                weights = self.attn_drop(((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1))
                return self.proj_drop(self.proj((weights @ v).transpose(1, 2).reshape(b, n, c)))

        class Mlp(nn.Module):
            def __init__(self, dim, hidden, act_layer, drop):
                super().__init__()
                self.fc1 = nn.Linear(dim, hidden)
                self.act = act_layer()
                self.drop1 = nn.Dropout(drop)
                self.fc2 = nn.Linear(hidden, dim)
                self.drop2 = nn.Dropout(drop)

            def forward(self, x):
                return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))

        class Block(nn.Module):
            def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, qk_norm=False, proj_drop=0.0, attn_drop=0.0,
                         init_values=None, drop_path=0.0, act_layer=nn.GELU, norm_layer=nn.LayerNorm, **unused):
                super().__init__()
                if qk_norm or init_values is not None or unused:
                    raise NotImplementedError('timm stand-in: qk_norm, init_values and other Block options are not implemented')
                self.norm1 = norm_layer(dim)
                self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
                self.norm2 = norm_layer(dim)
                self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer, proj_drop)

            def forward(self, x):
                x = x + self.attn(self.norm1(x))
                return x + self.mlp(self.norm2(x))

        timm = types.ModuleType('timm')
        timm_models = types.ModuleType('timm.models')
        vit = types.ModuleType('timm.models.vision_transformer')
        vit.Block = Block
        timm.models = timm_models
        timm_models.vision_transformer = vit
        sys.modules.update({'timm': timm, 'timm.models': timm_models, 'timm.models.vision_transformer': vit})
        stubbed.append('timm (vision_transformer.Block)')
    try:
        import tqdm  # noqa: F401
    except ImportError:
        mod = types.ModuleType('tqdm')
        auto = types.ModuleType('tqdm.auto')
        mod.tqdm = auto.tqdm = lambda iterable=None, *a, **k: iterable
        mod.auto = auto
        sys.modules.update({'tqdm': mod, 'tqdm.auto': auto})
        stubbed.append('tqdm')
    try:
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        mpl = types.ModuleType('matplotlib')
        plt = types.ModuleType('matplotlib.pyplot')
        mpl.pyplot = plt
        sys.modules.update({'matplotlib': mpl, 'matplotlib.pyplot': plt})
        stubbed.append('matplotlib')
    return stubbed


# What on_cpu changes, for the JSON.
CPU_ADJUSTMENTS = [
    'Tensor.cuda() returns the tensor (the sampling code creates its tensors with .cuda())',
    'Tensor.half() converts to float32 (the official evaluation runs under CUDA fp16 autocast; '
    'the values converted are zeros and small integers, exact in both)',
]


@contextlib.contextmanager
def on_cpu(torch):
    """The official sampling code moves every tensor it creates with `.cuda()` and casts two
    inputs with `.half()` (CUDA autocast then runs the layers in fp16). On this CPU in fp32,
    for the duration of the block, `.cuda()` leaves a tensor where it is and `.half()` gives
    float32 (the values cast are zeros and small integers: exact either way)."""
    saved = {name: torch.Tensor.__dict__.get(name) for name in ('cuda', 'half')}
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.Tensor.half = lambda self, *args, **kwargs: self.to(torch.float32)
    try:
        yield
    finally:
        for name, fn in saved.items():
            if fn is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, fn)


def build_vae(torch, seed):
    """The KL-16 VAE of MAR/FAR with torch's default (random) initialisation."""
    from models.vae import AutoencoderKL
    torch.manual_seed(seed)
    vae = AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4), ckpt_path=None)
    return vae


def prepare(model, vae, blocks):
    if blocks is not None:
        model.encoder_blocks = model.encoder_blocks[:blocks]
        model.decoder_blocks = model.decoder_blocks[:blocks]
    model.eval()  # no dropout while sampling
    vae.eval()
    for p in list(model.parameters()) + list(vae.parameters()):
        p.requires_grad_(False)


def time_sampling(prog, torch, np, model, vae, sample_tokens, args):
    """One warm-up and `args.runs` measured runs of sample_tokens() + vae.decode(tokens /
    0.2325), as the official evaluation does per batch. diffloss.sample and vae.decode are
    wrapped on the instances (measure only) to split the time. Returns (runs, warm-up
    seconds per batch, whether the last image is finite, head calls per run)."""
    marks = {}
    head = model.diffloss
    original_head_sample = head.sample
    original_decode = vae.decode

    def timed_head_sample(*a, **k):
        t = time.perf_counter()
        try:
            return original_head_sample(*a, **k)
        finally:
            marks['head'] += time.perf_counter() - t
            marks['head_calls'] += 1

    def timed_decode(*a, **k):
        t = time.perf_counter()
        try:
            return original_decode(*a, **k)
        finally:
            marks['decode'] += time.perf_counter() - t

    head.sample = timed_head_sample
    vae.decode = timed_decode
    B = args.batch

    def once():
        marks.update(head=0.0, decode=0.0, head_calls=0)
        torch.manual_seed(args.g_seed)
        np.random.seed(args.g_seed)
        t0 = time.perf_counter()
        tokens = sample_tokens()
        img = vae.decode(tokens / KL16_SCALE)
        total = time.perf_counter() - t0
        return img, {
            'total': total / B,
            'transformer': (total - marks['head'] - marks['decode']) / B,
            'head': marks['head'] / B,
            'decode': marks['decode'] / B,
        }

    try:
        with torch.inference_mode(), on_cpu(torch):
            img, warm = once()
            say(prog, f'warm-up {warm["total"] * B:.2f} s')
            runs = []
            for i in range(args.runs):
                img, r = once()
                runs.append(r)
                say(prog, f'run {i + 1}/{args.runs} {r["total"] * B:.2f} s (transformer and rest {r["transformer"] * B:.2f} s, '
                          f'diffusion head {r["head"] * B:.2f} s in {marks["head_calls"]} calls, decode {r["decode"] * B:.2f} s)')
            finite = bool(torch.isfinite(img).all())
    finally:
        del head.sample  # back to the class's methods
        del vae.decode
    return runs, warm['total'] * B, finite, marks['head_calls']


def report(system, torch, args, runs, warmup_s, finite, head_calls, stubbed, extra):
    median = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    result = {
        'system': system,
        's_per_image': median('total'),
        'transformer_s': median('transformer'),
        'head_s': median('head'),
        'decode_s': median('decode'),
        'runs': [r['total'] for r in runs],
        'transformer_runs': [r['transformer'] for r in runs],
        'head_runs': [r['head'] for r in runs],
        'decode_runs': [r['decode'] for r in runs],
        'warmup_s': warmup_s,
        'head_calls': head_calls,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'batch': args.batch,
        'diffusion_steps': args.diffusion_steps,
        'blocks': args.blocks,
        **extra,
        'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY'),
        'image_finite': finite,
        'stubbed_imports': stubbed,
        'cpu_adjustments': CPU_ADJUSTMENTS,
    }
    print(json.dumps(result))


def setup(prog, args, marker):
    """Checks the checkout, imports torch with the thread count, installs the stand-ins."""
    repo = os.path.abspath(args.repo)
    if not os.path.isfile(os.path.join(repo, 'models', marker)):
        sys.exit(f'{prog}: {repo} does not look like the official checkout (models/{marker} missing)')
    check_omp_policy(prog)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    sys.path.insert(0, repo)  # the checkout's top-level `models` and `diffusion` packages
    stubbed = install_stubs()
    if stubbed:
        say(prog, f"stand-in modules for missing imports: {', '.join(stubbed)}")
    return torch, np, stubbed


def parse_args():
    p = argparse.ArgumentParser(description='Time the official FAR code sampling FAR-B on the CPU (one JSON line on stdout).')
    common_args(p)
    p.add_argument('--model', default='far_base', help='official factory (default far_base; far_large / far_huge need their diffloss size)')
    p.add_argument('--diffloss-d', type=int, default=6, help='diffusion MLP depth (default 6, FAR-B in sample.sh)')
    p.add_argument('--diffloss-w', type=int, default=1024, help='diffusion MLP width (default 1024)')
    p.add_argument('--cfg', type=float, default=3.0, help='guidance scale (default 3.0, sample.sh)')
    return p.parse_args()


def main():
    prog = 'far_sample.py'
    args = parse_args()
    torch, np, stubbed = setup(prog, args, 'far.py')

    with contextlib.redirect_stdout(sys.stderr):  # the official code may print while building
        from models import far
        torch.manual_seed(args.seed)
        model = far.__dict__[args.model](
            img_size=256, vae_stride=16, patch_size=1, vae_embed_dim=16, mask=False,
            class_num=1000, diffloss_d=args.diffloss_d, diffloss_w=args.diffloss_w,
            num_sampling_steps=str(args.diffusion_steps),
        )
        vae = build_vae(torch, args.seed + 1)
    prepare(model, vae, args.blocks)

    B = args.batch
    labels = torch.tensor([(i * 37) % 1000 for i in range(B)], dtype=torch.long)  # as Tessera's bench (class 0 at batch 1)

    def sample_tokens():
        # num_iter is ignored by sample_tokens_nomask (its 10 frequency steps are fixed); passed as sample.sh does.
        return model.sample_tokens_nomask(bsz=B, num_iter=10, cfg=args.cfg, cfg_schedule='linear', labels=labels, temperature=args.temperature)

    runs, warmup_s, finite, head_calls = time_sampling(prog, torch, np, model, vae, sample_tokens, args)
    report('official FAR', torch, args, runs, warmup_s, finite, head_calls, stubbed, {
        'model': args.model,
        'settings': {'entry': 'sample_tokens_nomask + vae.decode', 'ar_steps': 10, 'cfg': args.cfg, 'cfg_schedule': 'linear',
                     'temperature': args.temperature, 'diffloss_d': args.diffloss_d, 'diffloss_w': args.diffloss_w, 'g_seed': args.g_seed},
    })


if __name__ == '__main__':
    main()
