/**
 * Generator configs (JSON). Each slot names a plugin by package or short alias with its
 * options; `sampling` holds the sampler defaults. Options are validated by the plugin's
 * own zod schema, and every error carries the JSON path (`head.options.topK`).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TesseraError } from '../errors';
import { samplerSettingsSchema } from '../sampler/sampler';

export const slotSchema = z.object({
  use: z.string().min(1),
  options: z.record(z.unknown()).default({}),
}).strict();

export const configSchema = z.object({
  $schema: z.string().optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  tokenizer: slotSchema,
  direction: slotSchema,
  head: slotSchema,
  backbone: slotSchema,
  /** Sampler defaults of this generator (the sampler's own schema). */
  sampling: samplerSettingsSchema.default({}),
  /** Trainer settings; validated by the trainer that reads them. */
  training: z.record(z.unknown()).default({}),
}).strict();

export type SlotConfig = z.output<typeof slotSchema>;
export type GeneratorConfig = z.output<typeof configSchema>;

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
  return parseConfig(raw, file);
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
