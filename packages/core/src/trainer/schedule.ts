/**
 * Learning-rate schedules and VAR's progressive stages, as pure functions of the step so
 * that a resumed run recomputes exactly what an uninterrupted one used.
 *
 * Warm-up: linear from `warmupStartFactor` to 1 over `warmupFraction` of the steps (VAR
 * `lr_wd_annealing` with `wp0`; MAR `adjust_learning_rate` from 0). Afterwards, with
 * `p = (step − warm-up) / (steps − 1 − warm-up)`: `constant` (MAR's default), `cosine`
 * (MAR's other choice: `final + (1 − final)·½(1 + cos πp)`), or `linear` (VAR's `lin0`:
 * 1 while p < 0.05, then linear down to `finalFactor` at p = 1). Spec var.md §8.3–8.4,
 * mar.md §8.3; official `utils/lr_control.py` (VAR) and `util/lr_sched.py` (MAR).
 */
import type { TrainingOptions } from './options';
import { peakLearningRate } from './options';

/** The learning-rate factor (of the peak) at 0-based `step`. */
export function learningRateFactor(o: Pick<TrainingOptions, 'schedule' | 'warmupFraction' | 'warmupStartFactor' | 'finalFactor' | 'steps'>, step: number): number {
  const warmup = Math.round(o.warmupFraction * o.steps);
  if (step < warmup) return o.warmupStartFactor + ((1 - o.warmupStartFactor) * step) / warmup;
  if (o.schedule === 'constant') return 1;
  const span = Math.max(1, o.steps - 1 - warmup);
  const p = Math.min(1, (step - warmup) / span);
  if (o.schedule === 'cosine') return o.finalFactor + (1 - o.finalFactor) * 0.5 * (1 + Math.cos(Math.PI * p));
  if (p < 0.05) return 1;
  return 1 + ((o.finalFactor - 1) * (p - 0.05)) / 0.95;
}

export function learningRate(o: TrainingOptions, step: number): number {
  return peakLearningRate(o) * learningRateFactor(o, step);
}

/** VAR's stage bookkeeping, carried from step to step (and stored in checkpoints). */
export interface ProgressiveState {
  /** The stage of the previous step (−1 before the first). */
  scale: number;
  /** Steps since the stage last changed (`prog_it`). */
  stepsInStage: number;
  /** Whether the first stage is still running (its weight stays 1). */
  firstStage: boolean;
}

export const initialProgressiveState = (): ProgressiveState => ({ scale: -1, stepsInStage: 0, firstStage: true });

/**
 * The stage of 0-based `step` for `scales` scales: `{ scale, weight }`, or null once all
 * scales train (VAR treats `prog_si = K − 1` as no truncation). Updates `state`.
 */
export function progressiveStage(o: TrainingOptions, scales: number, step: number, state: ProgressiveState): { scale: number; weight: number } | null {
  const pg = o.progressive;
  if (!pg) return null;
  const warmup = Math.round(o.warmupFraction * o.steps);
  const end = o.steps * pg.fraction;
  const start = Math.min(pg.startScale, scales - 1);
  let scale: number;
  if (step < warmup) scale = start;
  else if (step >= end) scale = scales - 1;
  else {
    const progress = Math.min(1, Math.max(0, (step - warmup) / Math.max(1, end - warmup)));
    scale = start + Math.round(progress * (scales - 1 - start));
  }
  if (state.scale !== -1 && scale !== state.scale) {
    state.firstStage = false;
    state.stepsInStage = 0;
  }
  state.scale = scale;
  state.stepsInStage += 1;
  if (scale >= scales - 1) return null;
  const rampSteps = Math.max(1, pg.stageWarmupFraction * o.steps);
  const weight = state.firstStage ? 1 : Math.min(1, Math.max(0.01, state.stepsInStage / rampSteps));
  return { scale, weight };
}
