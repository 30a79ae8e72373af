/**
 * Generator configs (JSON). Each slot names a plugin by package or short alias with its
 * options; `sampling` holds the sampler defaults. Options are validated by the plugin's
 * own zod schema, and every error carries the JSON path (`head.options.topK`). An
 * optional `weights` note names the released files a preset loads. A tokenizer-only
 * config (name, tokenizer slot, weights note) serves `tessera reconstruct`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TesseraError } from '../errors';
import { samplerSettingsSchema } from '../sampler/sampler';

export const slotSchema = z.object({
  use: z.string().min(1),
  options: z.record(z.unknown()).default({}),
}).strict();

/**
 * Where a module's released weights are (informative, and the CLI's defaults for `--key`):
 * the official file name, the nested dict holding the state_dict (`model_ema`), or a key
 * prefix to strip (`vae.` for HART's tokenizer file, which also holds a discriminator).
 */
export const weightsFileSchema = z.object({
  file: z.string().min(1),
  url: z.string().optional(),
  key: z.string().min(1).optional(),
  prefix: z.string().min(1).optional(),
  note: z.string().optional(),
}).strict();

/** The released weights of a preset: the tokenizer file and the transformer (backbone + head) file. */
export const weightsNoteSchema = z.object({
  tokenizer: weightsFileSchema.optional(),
  transformer: weightsFileSchema.optional(),
}).strict();

export const configSchema = z.object({
  $schema: z.string().optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  weights: weightsNoteSchema.optional(),
  tokenizer: slotSchema,
  direction: slotSchema,
  head: slotSchema,
  backbone: slotSchema,
  /** Sampler defaults of this generator (the sampler's own schema). */
  sampling: samplerSettingsSchema.default({}),
  /** Trainer settings; validated by the trainer that reads them. */
  training: z.record(z.unknown()).default({}),
}).strict();

/**
 * A tokenizer-only config (`tessera reconstruct`): just the `tokenizer` slot and its
 * weights. Generator configs stay strict: they need all four slots.
 */
export const tokenizerConfigSchema = z.object({
  $schema: z.string().optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  weights: weightsNoteSchema.pick({ tokenizer: true }).strict().optional(),
  tokenizer: slotSchema,
}).strict();

export type SlotConfig = z.output<typeof slotSchema>;
export type GeneratorConfig = z.output<typeof configSchema>;
export type TokenizerConfig = z.output<typeof tokenizerConfigSchema>;
export type WeightsFileNote = z.output<typeof weightsFileSchema>;

/** Formats a zod error as one line: `file` at `json.path`: message. */
export function zodIssueError(error: z.ZodError, source: string, pathPrefix: (string | number)[] = [], subject?: string): TesseraError {
  const issue = error.issues[0];
  const fullPath = [...pathPrefix, ...issue.path];
  const where = fullPath.length ? fullPath.join('.') : '(root)';
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more issue${error.issues.length > 2 ? 's' : ''})` : '';
  return new TesseraError('CONFIG_INVALID', `\`${source}\` at \`${where}\`: ${issue.message}${more}`, {
    subject,
    data: { source, path: fullPath, issues: error.issues.map((i) => ({ path: [...pathPrefix, ...i.path], message: i.message, code: i.code })) },
    cause: error,
  });
}

export function parseConfig(raw: unknown, source: string): GeneratorConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw zodIssueError(parsed.error, source);
  return parsed.data;
}

export function readConfigFile(file: string): GeneratorConfig {
  return parseConfig(readJsonFile(file), file);
}

/**
 * The tokenizer of a config file: a tokenizer-only config, or the `tokenizer` slot (and
 * tokenizer weights note) of a full generator config.
 */
export function readTokenizerConfigFile(file: string): TokenizerConfig {
  const raw = readJsonFile(file);
  const isGenerator = !!raw && typeof raw === 'object' && ['direction', 'head', 'backbone'].some((k) => k in (raw as object));
  if (isGenerator) {
    const c = parseConfig(raw, file);
    return { name: c.name, description: c.description, tokenizer: c.tokenizer, ...(c.weights?.tokenizer ? { weights: { tokenizer: c.weights.tokenizer } } : {}) };
  }
  const parsed = tokenizerConfigSchema.safeParse(raw);
  if (!parsed.success) throw zodIssueError(parsed.error, file);
  return parsed.data;
}

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TesseraError('CONFIG_NOT_FOUND', `\`${file}\` cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { subject: file, cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TesseraError('CONFIG_INVALID', `\`${file}\` is not valid JSON: ${(e as Error).message}`, { subject: file, cause: e });
  }
  return raw;
}

/** Dotted paths of keys present in `parsed` but absent from `given`: the defaulted options. */
export function defaultedKeys(given: unknown, parsed: unknown, prefix = ''): string[] {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  const g = given && typeof given === 'object' && !Array.isArray(given) ? (given as Record<string, unknown>) : {};
  const out: string[] = [];
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(k in g)) out.push(prefix + k);
    else out.push(...defaultedKeys(g[k], v, `${prefix}${k}.`));
  }
  return out;
}
