/**
 * One error class for the whole framework. Every error carries a `code` from the
 * catalog below, the id of the plugin or file it concerns, structured `data` for
 * tests (assert on code and data, never on wording) and an optional `cause`.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'a config file or option value does not match its schema',
  CONFIG_NOT_FOUND: 'a config file could not be read',
  PLUGIN_NOT_FOUND: 'a plugin named in a config is not installed',
  PLUGIN_INVALID: 'a package does not export a valid plugin object',
  PLUGIN_API_MISMATCH: 'a plugin was built for another api version',
  PLUGIN_INCOMPATIBLE: 'two plugins of one generator cannot work together',
  CHECKPOINT_CORRUPT: 'a weights file is truncated or malformed',
  CHECKPOINT_UNSUPPORTED: 'a weights file uses a feature Tessera does not read',
  CHECKPOINT_MISMATCH: 'weights do not fit the model (missing, unexpected or mis-shaped tensors)',
  PICKLE_FORBIDDEN_GLOBAL: 'a pickle references a global outside the state_dict allow-list',
  MANIFEST_INVALID: 'a parity manifest is malformed',
  PARITY_UNSUPPORTED: 'no handler is registered for a parity kind',
  DRAW_MISMATCH: 'a replayed random draw does not match what the code asked for',
  DRAWS_EXHAUSTED: 'a replay draw source ran out of recorded draws',
  SHAPE_MISMATCH: 'a tensor has the wrong shape',
  ENGINE_UNAVAILABLE: 'a requested engine or backend cannot be loaded',
  OP_UNSUPPORTED: 'an engine does not implement an op',
  IMAGE_INVALID: 'an image file cannot be decoded',
  DATASET_INVALID: 'a dataset folder or file is missing, truncated or malformed',
  FILE_NOT_FOUND: 'an input file does not exist',
  USAGE: 'a command was called with bad arguments',
  TRAINING_DIVERGED: 'training produced a non-finite loss or gradient; the last good checkpoint is kept',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Exit code for the CLI: 2 for bad usage or bad input, 1 for a failure of the work. */
const INPUT_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'PLUGIN_NOT_FOUND', 'PLUGIN_INVALID', 'PLUGIN_API_MISMATCH',
  'PLUGIN_INCOMPATIBLE', 'CHECKPOINT_CORRUPT', 'CHECKPOINT_UNSUPPORTED', 'CHECKPOINT_MISMATCH',
  'PICKLE_FORBIDDEN_GLOBAL', 'MANIFEST_INVALID', 'IMAGE_INVALID', 'DATASET_INVALID', 'FILE_NOT_FOUND', 'USAGE',
]);

export interface TesseraErrorOptions {
  /** Plugin id (`head/categorical`) or file the error concerns. */
  subject?: string;
  data?: Record<string, unknown>;
  cause?: unknown;
}

export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly subject: string | undefined;
  readonly data: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: TesseraErrorOptions = {}) {
    super(options.subject ? `[${options.subject}] ${message}` : message, { cause: options.cause });
    this.name = 'TesseraError';
    this.code = code;
    this.subject = options.subject;
    this.data = options.data ?? {};
  }

  /** 2 when the caller gave bad input, 1 when the work itself failed. */
  get exitCode(): 1 | 2 {
    return INPUT_ERRORS.has(this.code) ? 2 : 1;
  }
}

export function isTesseraError(e: unknown, code?: ErrorCode): e is TesseraError {
  return e instanceof TesseraError && (code === undefined || e.code === code);
}
