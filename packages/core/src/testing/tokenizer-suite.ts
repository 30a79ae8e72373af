/**
 * Conformance of a tokenizer plugin: the common checks, then on a tiny instance on every
 * engine — tokens match the declared space (integer ids inside the vocabulary for a
 * discrete tokenizer; latents of the declared channels and grid for a continuous one),
 * decode returns images of the declared resolution, encoding is deterministic under a
 * seed, nothing leaks, and parameters survive a safetensors round trip.
 */
import type { Engine } from '../engine/engine';
import type { Tensor } from '../engine/ops';
import type { Tokenizer } from '../contracts/tokenizer';
import { tokenTensors } from '../contracts/token-space';
import { TOKENIZER } from '../contracts/tokens';
import { Rng } from '../rng/rng';
import { SeededDraws } from '../rng/draws';
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors';
import { assert, Check, CommonSetup, commonChecks, engineList, instantiate } from './checks';

export type TokenizerConformanceSetup<O> = CommonSetup<O>;


export function tokenizerConformance<O>(setup: TokenizerConformanceSetup<O>): Check[] {
  const p = setup.plugin;
  const caps = (): string[] => p.capabilities(p.options.parse(setup.options)).provides;
  const behaviour = (engineName: string, create: () => Promise<Engine>): Check[] => {
    const build = async (seed = 0): Promise<{ F: Engine; tok: Tokenizer }> => {
      const F = await create();
      const tok = instantiate<Tokenizer, O>(setup, TOKENIZER as symbol, F);
      tok.module.initialize(new Rng(seed));
      return { F, tok };
    };
    const images = (F: Engine, tok: Tokenizer): Tensor => {
      const [H, W] = tok.resolution;
      const rng = new Rng(4);
      return F.tensor(Float32Array.from({ length: 2 * 3 * H * W }, () => Math.tanh(rng.normal())), [2, 3, H, W]);
    };
    return [
      {
        name: `[${engineName}] tokens match the declared token space and capabilities`,
        async run() {
          const { F, tok } = await build();
          const x = images(F, tok);
          const tokens = tok.encode(x, SeededDraws.fromSeed(1));
          const space = tok.space;
          if (space.kind === 'discrete') {
            assert(p, caps().includes('discrete'), 'produces discrete tokens without declaring `discrete`');
            assert(p, tokens.kind === 'discrete', `space is discrete but encode() returned ${tokens.kind} tokens`);
            for (const idx of tokens.indices) {
              assert(p, idx.dtype === 'int32', `token ids have dtype ${idx.dtype}, expected int32`);
              const ids = F.readSync(idx);
              assert(p, ids.every((v) => Number.isInteger(v) && v >= 0 && v < space.vocab), `a token id is outside [0, ${space.vocab})`);
            }
            assert(p, !tokens.residual || caps().includes('residual'), 'returns a residual without declaring `residual`');
          } else {
            assert(p, caps().includes('continuous'), 'produces continuous tokens without declaring `continuous`');
            assert(p, tokens.kind === 'continuous', `space is continuous but encode() returned ${tokens.kind} tokens`);
            const [B, C, h, w] = tokens.latent.shape;
            assert(p, B === 2 && C === space.channels && h === space.grid[0] && w === space.grid[1], `latent [${tokens.latent.shape}] does not match the space (${space.channels} channels, grid ${space.grid})`);
          }
          if (caps().includes('multi-scale')) assert(p, tok.multiScale, 'declares `multi-scale` without a multiScale view');
          if (caps().includes('pyramid')) assert(p, tok.pyramid, 'declares `pyramid` without a pyramid view');
          const y = tok.decode(tokens);
          assert(p, y.shape.join() === [2, 3, ...tok.resolution].join(), `decode() returned [${y.shape}], expected [2, 3, ${tok.resolution}]`);
          F.dispose([x, y, ...tokenTensors(tokens)]);
          tok.module.dispose();
        },
      },
      {
        name: `[${engineName}] encodes deterministically under a seed, without leaks`,
        async run() {
          const { F, tok } = await build();
          const before = F.liveTensors();
          const enc = (): Float32Array[] => {
            const x = images(F, tok);
            const t = tok.encode(x, SeededDraws.fromSeed(7));
            const out = tokenTensors(t).map((z) => Float32Array.from(F.readSync(z)));
            F.dispose([x, ...tokenTensors(t)]);
            return out;
          };
          const a = enc(), b = enc();
          assert(p, a.every((arr, i) => arr.every((v, j) => Object.is(v, b[i][j]))), 'the same seed encoded differently');
          assert(p, F.liveTensors() === before, `encode() leaked ${F.liveTensors() - before} tensors`);
          tok.module.dispose();
        },
      },
      {
        name: `[${engineName}] parameters round-trip through safetensors`,
        async run() {
          const { F, tok } = await build(2);
          const back = readSafetensors(writeSafetensors(await tok.module.stateDict()), 'roundtrip.safetensors').tensors;
          const fresh = instantiate<Tokenizer, O>(setup, TOKENIZER as symbol, F);
          fresh.module.loadStateDict(back);
          const x = images(F, tok);
          const a = tokenTensors(tok.encode(x, SeededDraws.fromSeed(3)));
          const b = tokenTensors(fresh.encode(x, SeededDraws.fromSeed(3)));
          const same = a.every((t, i) => F.readSync(t).every((v, j) => Object.is(v, F.readSync(b[i])[j])));
          F.dispose([x, ...a, ...b]);
          assert(p, same, 'a tokenizer reloaded from its own state dict encodes differently');
          tok.module.dispose();
          fresh.module.dispose();
        },
      },
    ];
  };
  return [...commonChecks(setup, 'tokenizer'), ...engineList(setup).flatMap((e) => behaviour(e.name, () => e.create()))];
}
