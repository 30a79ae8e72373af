/**
 * A plugin is a plain object returned by `definePlugin` (vite plugins, eslint's `meta`):
 * name, kind, api version, a strict zod options schema with defaults inside,
 * capabilities (possibly depending on options), and a `register(container, options)`
 * that binds the implementation under its kind's token in the generator's own child
 * container. Nothing is written to tsyringe's global container.
 */
import type { DependencyContainer } from 'tsyringe';
import { z } from 'zod';
import type { Capabilities } from '../contracts/capabilities';
import type { ParityHandler } from '../parity/types';

/** The plugin api this core implements. A plugin built for another major is refused. */
export const API_VERSION = 1;

/**
 * The `@tessera/core` versions that implement this api: what a plugin package declares
 * as its peer dependency (`"peerDependencies": { "@tessera/core": "^0.1.0" }`).
 */
export const CORE_PEER_RANGE = '^0.1.0';

export const PLUGIN_KINDS = ['tokenizer', 'direction', 'head', 'backbone'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

export interface TesseraPlugin<O = unknown> {
  readonly name: string;
  readonly kind: PluginKind;
  readonly apiVersion: number;
  readonly description: string;
  readonly options: z.ZodType<O, z.ZodTypeDef, unknown>;
  capabilities(options: O): Capabilities;
  register(container: DependencyContainer, options: O): void;
  /** Parity handlers for fixture kinds this plugin implements. */
  readonly parity: readonly ParityHandler[];
}

export interface PluginDefinition<S extends z.ZodTypeAny> {
  name: string;
  kind: PluginKind;
  apiVersion?: number;
  description: string;
  options: S;
  capabilities: Capabilities | ((options: z.output<S>) => Capabilities);
  register(container: DependencyContainer, options: z.output<S>): void;
  parity?: ParityHandler[];
}

export function definePlugin<S extends z.ZodTypeAny>(def: PluginDefinition<S>): TesseraPlugin<z.output<S>> {
  const caps = def.capabilities;
  return Object.freeze({
    name: def.name,
    kind: def.kind,
    apiVersion: def.apiVersion ?? API_VERSION,
    description: def.description,
    options: def.options,
    capabilities: typeof caps === 'function' ? caps : () => caps,
    register: def.register,
    parity: Object.freeze([...(def.parity ?? [])]),
  });
}

/** `head/categorical`: how plugins are named in messages. */
export const pluginId = (p: { kind: string; name: string }): string => `${p.kind}/${p.name}`;

/** The structural check applied to whatever a package exports. */
export const pluginShape = z.object({
  name: z.string().min(1),
  kind: z.enum(PLUGIN_KINDS),
  apiVersion: z.number().int().positive(),
  description: z.string(),
  options: z.custom<z.ZodTypeAny>((v) => v instanceof z.ZodType, { message: 'must be a zod schema' }),
  capabilities: z.function(),
  register: z.function(),
  parity: z.array(z.object({ kind: z.string(), run: z.function() })).readonly(),
});
