/** `tessera config validate <file>`: schema, plugins, options and capabilities of a config. */
import type { PluginHost, ResolvedConfig } from '@tessera/core';
import { pluginId, SLOTS } from '@tessera/core';

export function validateConfig(host: PluginHost, file: string): { resolved: ResolvedConfig; text: string } {
  const resolved = host.resolveFile(file);
  const lines = [`${file}: valid (${resolved.config.name})`];
  for (const slot of SLOTS) {
    const s = resolved.slots[slot];
    lines.push(`  ${slot.padEnd(9)} ${pluginId(s.plugin)} from ${s.packageName}${s.defaulted.length ? `; defaulted: ${s.defaulted.join(', ')}` : ''}`);
  }
  return { resolved, text: lines.join('\n') };
}

/** The resolved config as written beside a run's outputs: options after defaults, and which were defaulted. */
export function resolvedConfigRecord(resolved: ResolvedConfig): unknown {
  const slots = Object.fromEntries(SLOTS.map((slot) => {
    const s = resolved.slots[slot];
    return [slot, { use: resolved.config[slot].use, package: s.packageName, options: s.options, defaulted: s.defaulted }];
  }));
  return { ...resolved.config, ...slots };
}
