/**
 * A frequency-aware diffusion step schedule for FAR-style generation (FAR paper,
 * "frequency-aware" design; far.md §3). The released FAR code samples every frequency
 * level with one respacing (`num_sampling_steps`, default "100"): it has no per-level step
 * schedule, so this option is OFF by default and parity with the official code holds.
 *
 * When on, the number of reverse steps shifts linearly with the level of the tokens being
 * generated: level 0 (the coarsest, low-frequency content, where the transformer's condition
 * already says most of what the token is) gets `lowestLevelSteps`, the highest level
 * (`levels − 1`, fine detail) gets `highestLevelSteps`, and levels in between get
 * round(lowest + (highest − lowest)·k/(levels − 1)). Each count becomes an ordinary
 * one-section respacing string (mar.md §5.3), so the schedule stays the cosine one.
 */
import { Engine, Tensor, TesseraError } from '@tessera/core';

export interface FrequencyAwareSteps {
  /** Number of frequency levels K (FAR: the latent side, 16 at 256 px). */
  levels: number;
  /** Reverse steps at level 0. */
  lowestLevelSteps: number;
  /** Reverse steps at level K − 1. */
  highestLevelSteps: number;
}

/** The respacing string for one level (levels outside 0..K−1 are clamped). */
export function stepsForLevel(schedule: FrequencyAwareSteps, level: number): string {
  const k = Math.min(Math.max(level, 0), schedule.levels - 1);
  const frac = schedule.levels > 1 ? k / (schedule.levels - 1) : 1;
  return String(Math.round(schedule.lowestLevelSteps + (schedule.highestLevelSteps - schedule.lowestLevelSteps) * frac));
}

/** The single level shared by every row of `level_N`; rows of one call must agree. */
export function sharedLevel(F: Engine, level_N: Tensor | undefined): number {
  if (!level_N) {
    throw new TesseraError('CONFIG_INVALID', '`frequencyAwareSteps` is on, so sampling needs the rows\' frequency `level`; the direction gave none. Use direction `frequency`, or set `frequencyAwareSteps: null`', { subject: 'head/diffusion' });
  }
  const levels = F.readSync(level_N);
  const first = levels[0];
  for (let i = 1; i < levels.length; i++) {
    if (levels[i] !== first) {
      throw new TesseraError('SHAPE_MISMATCH', `frequency-aware steps need one level per sampling call, got levels ${levels[0]} and ${levels[i]}`, { subject: 'head/diffusion', data: { levels: Array.from(levels) } });
    }
  }
  return Number(first);
}
