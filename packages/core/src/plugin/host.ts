/**
 * The plugin host. It resolves the plugins a config names (built-in backbones first,
 * then packages from node_modules: `@tessera/<kind>-<name>`, then
 * `tessera-plugin-<kind>-<name>`, or any package named in full), checks their shape and
 * api version, validates each slot's options with the plugin's own schema (errors carry
 * the JSON path), checks capabilities across slots, and builds each generator in its own
 * child container so several generators coexist in one process.
 */
import * as path from 'node:path';
import { container as rootContainer, DependencyContainer } from 'tsyringe';
import type { Engine } from '../engine/engine';
import { TesseraError } from '../errors';
import type { DrawSource } from '../rng/draws';
import { describeCapability, Slot } from '../contracts/capabilities';
import type { Generator } from '../contracts/generator';
import type { Tokenizer } from '../contracts/tokenizer';
import { BACKBONE, DIRECTION, DRAWS, ENGINE, HEAD, TOKENIZER } from '../contracts/tokens';
import { API_VERSION, PluginKind, pluginId, pluginShape, TesseraPlugin } from './define';
import { defaultedKeys, GeneratorConfig, readConfigFile, TokenizerConfig, zodIssueError } from './config';
import { validatePlugin } from './validate';

export const SLOTS: readonly Slot[] = ['tokenizer', 'direction', 'head', 'backbone'];

export interface LoadedPlugin {
  plugin: TesseraPlugin;
  /** The package it came from, or `@tessera/core` for built-ins. */
  packageName: string;
}

export interface ResolvedSlot extends LoadedPlugin {
  options: unknown;
  /** Option keys filled in by the schema's defaults (dotted paths). */
  defaulted: string[];
}

export interface ResolvedConfig {
  config: GeneratorConfig;
  source: string;
  slots: Record<Slot, ResolvedSlot>;
}

export interface PluginHostOptions {
  /** Folders to resolve packages from (node_modules lookup starts there); default: cwd. */
  searchPaths?: string[];
  /** Plugins shipped inside core or the CLI (the built-in backbones). */
  builtins?: TesseraPlugin[];
}

export class PluginHost {
  private readonly searchPaths: string[];
  private readonly builtins: TesseraPlugin[];
  private readonly cache = new Map<string, LoadedPlugin>();

  constructor(options: PluginHostOptions = {}) {
    this.searchPaths = options.searchPaths ?? [process.cwd()];
    this.builtins = options.builtins ?? [];
  }

  /** Package names tried for `use` in a slot of `kind`. */
  static candidates(kind: PluginKind, use: string): string[] {
    if (use.startsWith('@') || use.startsWith('tessera-plugin-') || use.startsWith('.') || path.isAbsolute(use)) return [use];
    return [`@tessera/${kind}-${use}`, `tessera-plugin-${kind}-${use}`, use];
  }

  /** Finds, imports and checks the plugin that `use` names for a slot. */
  load(kind: PluginKind, use: string, from?: string): LoadedPlugin {
    const key = `${kind}:${use}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const builtin = this.builtins.find((p) => p.kind === kind && (p.name === use || `@tessera/core/${p.name}` === use));
    if (builtin) {
      const loaded = { plugin: builtin, packageName: '@tessera/core' };
      this.cache.set(key, loaded);
      return loaded;
    }
    const paths = from ? [from, ...this.searchPaths] : this.searchPaths;
    const tried = PluginHost.candidates(kind, use);
    for (const name of tried) {
      let resolved: string;
      try {
        resolved = require.resolve(name, { paths });
      } catch {
        continue;
      }
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(resolved) as Record<string, unknown>;
      const loaded = { plugin: checkPlugin(mod, name, kind), packageName: name };
      this.cache.set(key, loaded);
      return loaded;
    }
    const builtinNames = this.builtins.filter((p) => p.kind === kind).map((p) => `\`${p.name}\``);
    throw new TesseraError('PLUGIN_NOT_FOUND', `no ${kind} plugin \`${use}\`: tried ${tried.map((t) => `\`${t}\``).join(', ')}${builtinNames.length ? ` and the built-ins ${builtinNames.join(', ')}` : ''}. Install it with npm, or fix the name.`, {
      data: { kind, use, tried },
    });
  }

  /** Loads every slot's plugin, validates options and checks capabilities. */
  resolve(config: GeneratorConfig, source: string): ResolvedConfig {
    const from = path.dirname(path.resolve(source));
    const slots = {} as Record<Slot, ResolvedSlot>;
    for (const slot of SLOTS) {
      const { use } = config[slot];
      const options = config[slot].options ?? {};
      const loaded = this.load(slot, use, from);
      const parsed = loaded.plugin.options.safeParse(options);
      if (!parsed.success) throw zodIssueError(parsed.error, source, [slot, 'options'], pluginId(loaded.plugin));
      slots[slot] = { ...loaded, options: parsed.data, defaulted: defaultedKeys(options, parsed.data) };
    }
    checkCompatibility(slots);
    return { config, source, slots };
  }

  resolveFile(file: string): ResolvedConfig {
    return this.resolve(readConfigFile(file), file);
  }

  /** The tokenizer slot of a tokenizer-only (or full) config, options validated (`tessera reconstruct`). */
  resolveTokenizer(config: TokenizerConfig, source: string): ResolvedSlot {
    const options = config.tokenizer.options ?? {};
    const loaded = this.load('tokenizer', config.tokenizer.use, path.dirname(path.resolve(source)));
    const parsed = loaded.plugin.options.safeParse(options);
    if (!parsed.success) throw zodIssueError(parsed.error, source, ['tokenizer', 'options'], pluginId(loaded.plugin));
    return { ...loaded, options: parsed.data, defaulted: defaultedKeys(options, parsed.data) };
  }

  /** Builds a tokenizer alone in a fresh child container. */
  buildTokenizer(slot: ResolvedSlot, deps: { engine: Engine; draws: DrawSource }): Tokenizer {
    const child: DependencyContainer = rootContainer.createChildContainer();
    child.register(ENGINE, { useValue: deps.engine });
    child.register(DRAWS, { useValue: deps.draws });
    slot.plugin.register(child, slot.options);
    return child.resolve(TOKENIZER);
  }

  /** Builds a generator in a fresh child container. */
  build(resolved: ResolvedConfig, deps: { engine: Engine; draws: DrawSource }): Generator {
    const child: DependencyContainer = rootContainer.createChildContainer();
    child.register(ENGINE, { useValue: deps.engine });
    child.register(DRAWS, { useValue: deps.draws });
    for (const slot of SLOTS) resolved.slots[slot].plugin.register(child, resolved.slots[slot].options);
    return {
      name: resolved.config.name,
      engine: deps.engine,
      tokenizer: child.resolve(TOKENIZER),
      direction: child.resolve(DIRECTION),
      head: child.resolve(HEAD),
      backbone: child.resolve(BACKBONE),
      container: child,
    };
  }
}

function checkPlugin(mod: Record<string, unknown>, packageName: string, kind: PluginKind): TesseraPlugin {
  const candidate = (mod.default ?? mod.plugin ?? mod) as Record<string, unknown>;
  const parsed = pluginShape.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError('PLUGIN_INVALID', `package \`${packageName}\` does not export a plugin: field \`${issue.path.join('.')}\` ${issue.message}. Export the object returned by definePlugin() as default or as \`plugin\`.`, {
      subject: packageName,
      data: { packageName, path: issue.path },
    });
  }
  const plugin = candidate as unknown as TesseraPlugin;
  if (plugin.apiVersion !== API_VERSION) {
    const upgrade = plugin.apiVersion > API_VERSION ? 'upgrade @tessera/core (and the CLI)' : `upgrade \`${packageName}\` to a release built for api ${API_VERSION}`;
    throw new TesseraError('PLUGIN_API_MISMATCH', `\`${packageName}\` was built for plugin api ${plugin.apiVersion}; this core implements api ${API_VERSION}: ${upgrade}.`, {
      subject: pluginId(plugin),
      data: { packageName, pluginApi: plugin.apiVersion, coreApi: API_VERSION },
    });
  }
  if (plugin.kind !== kind) {
    throw new TesseraError('PLUGIN_INVALID', `\`${packageName}\` is a ${plugin.kind} plugin but the config uses it as the ${kind}`, {
      subject: pluginId(plugin),
      data: { packageName, kind: plugin.kind, expected: kind },
    });
  }
  validatePlugin(plugin, packageName);
  return plugin;
}

/** Every requirement of every slot must be met by the plugin of the slot it names. */
export function checkCompatibility(slots: Record<Slot, { plugin: TesseraPlugin; options: unknown }>): void {
  const provided = {} as Record<Slot, Set<string>>;
  for (const slot of SLOTS) provided[slot] = new Set(slots[slot].plugin.capabilities(slots[slot].options).provides);
  for (const slot of SLOTS) {
    const { plugin, options } = slots[slot];
    for (const req of plugin.capabilities(options).requires) {
      if (req.anyOf.some((c) => provided[req.slot].has(c))) continue;
      const other = slots[req.slot].plugin;
      const has = [...provided[req.slot]];
      const wanted = req.anyOf.map((c) => `\`${c}\``).join(' or ');
      throw new TesseraError(
        'PLUGIN_INCOMPATIBLE',
        `\`${pluginId(plugin)}\` needs ${req.need} (${wanted}: ${req.anyOf.map(describeCapability).join('; or ')}) from the ${req.slot}; \`${pluginId(other)}\` provides ${has.length ? has.map((c) => `\`${c}\``).join(', ') : 'nothing of the kind'}.${req.fix ? ` ${req.fix[0].toUpperCase()}${req.fix.slice(1)}.` : ''}`,
        { subject: pluginId(plugin), data: { plugin: pluginId(plugin), other: pluginId(other), slot: req.slot, missing: req.anyOf, provided: has } },
      );
    }
  }
}
