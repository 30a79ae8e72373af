/**
 * Progress of long CLI work on stderr: a cli-progress bar when stderr is a terminal, and
 * plain lines otherwise (logs, CI, tests), at most one per `everyMs` plus the last.
 * stdout stays clean for results.
 */
import { SingleBar, Presets } from 'cli-progress';

export interface Progress {
  /** Moves to `done` of `total`, with a short description of the current step. */
  update(done: number, total: number, label: string): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Minimum time between plain lines (default 1000 ms; 0 prints every update). */
  everyMs?: number;
  /** Where to write (default process.stderr). */
  stream?: NodeJS.WriteStream;
}

export function createProgress(title: string, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY) {
    const bar = new SingleBar({ format: `${title} [{bar}] {value}/{total} {label}`, stream, hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
    let started = false;
    return {
      update(done, total, label) {
        if (!started) {
          bar.start(total, done, { label });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { label });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const everyMs = options.everyMs ?? 1000;
  let last = -Infinity;
  return {
    update(done, total, label) {
      const now = Date.now();
      if (done < total && now - last < everyMs) return;
      last = now;
      stream.write(`${title} ${done}/${total} ${label}\n`);
    },
    stop() {},
  };
}
