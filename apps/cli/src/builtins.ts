/**
 * What the CLI knows of plugins: the built-in packages (loaded through the same host
 * path as any third-party package), the backbones built into core, and the parity
 * handlers all of them contribute.
 */
import * as core from '@tessera/core';
import { PluginHost, TesseraPlugin, ParityHandler, PluginKind, TesseraError } from '@tessera/core';

export const BUILTIN_PACKAGES: readonly { kind: PluginKind; name: string }[] = [
  { kind: 'tokenizer', name: 'vae' },
  { kind: 'tokenizer', name: 'msvq' },
  { kind: 'direction', name: 'raster' },
  { kind: 'direction', name: 'masked' },
  { kind: 'direction', name: 'scale' },
  { kind: 'direction', name: 'frequency' },
  { kind: 'head', name: 'categorical' },
  { kind: 'head', name: 'diffusion' },
];

/** Backbone plugins exported by core (`adalnBackbone`, `maeBackbone`, ...). */
export function builtinBackbones(): TesseraPlugin[] {
  return Object.values(core as Record<string, unknown>).filter(
    (v): v is TesseraPlugin => !!v && typeof v === 'object' && (v as TesseraPlugin).kind === 'backbone' && typeof (v as TesseraPlugin).register === 'function',
  );
}

export function createHost(searchPaths: string[] = [process.cwd()]): PluginHost {
  // The CLI's own folder comes last so its bundled built-ins resolve from anywhere.
  return new PluginHost({ searchPaths: [...searchPaths, __dirname], builtins: builtinBackbones() });
}

export interface PluginListing {
  kind: PluginKind;
  name: string;
  packageName: string;
  plugin?: TesseraPlugin;
  error?: TesseraError;
}

/** Loads every built-in; one that fails to load is listed with its error, not fatal. */
export function listBuiltins(host: PluginHost): PluginListing[] {
  const out: PluginListing[] = builtinBackbones().map((plugin) => ({ kind: plugin.kind, name: plugin.name, packageName: '@tessera/core', plugin }));
  for (const { kind, name } of BUILTIN_PACKAGES) {
    const packageName = `@tessera/${kind}-${name}`;
    try {
      const loaded = host.load(kind, name);
      out.push({ kind, name, packageName: loaded.packageName, plugin: loaded.plugin });
    } catch (e) {
      out.push({ kind, name, packageName, error: e instanceof TesseraError ? e : new TesseraError('PLUGIN_INVALID', String(e), { cause: e }) });
    }
  }
  return out;
}

/** Handlers by kind: core's own, then every loadable plugin's. */
export function parityHandlers(host: PluginHost): Map<string, ParityHandler> {
  const handlers = new Map<string, ParityHandler>();
  for (const h of core.coreParityHandlers) handlers.set(h.kind, h);
  for (const entry of listBuiltins(host)) for (const h of entry.plugin?.parity ?? []) handlers.set(h.kind, h);
  return handlers;
}
