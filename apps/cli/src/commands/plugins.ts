/** `tessera plugins`: every plugin the host can load, with kind, capabilities and options schema. */
import { z } from 'zod';
import { TesseraError } from '@tessera/core';
import type { PluginHost, TesseraPlugin } from '@tessera/core';
import { listPlugins, PluginListing } from '../builtins';

/** A short, readable rendering of a zod object schema: key: type = default. */
export function describeOptions(schema: z.ZodTypeAny): string[] {
  let s: z.ZodTypeAny = schema;
  while (s instanceof z.ZodEffects || s instanceof z.ZodDefault) s = s instanceof z.ZodEffects ? s.innerType() : s._def.innerType;
  if (!(s instanceof z.ZodObject)) return [`(${typeName(s)})`];
  return Object.entries(s.shape as Record<string, z.ZodTypeAny>).map(([k, v]) => {
    const def = v instanceof z.ZodDefault ? ` = ${JSON.stringify(v._def.defaultValue())}` : '';
    return `${k}: ${typeName(v)}${def}`;
  });
}

function typeName(t: z.ZodTypeAny): string {
  if (t instanceof z.ZodDefault || t instanceof z.ZodOptional) return typeName(t._def.innerType);
  if (t instanceof z.ZodNullable) return `${typeName(t._def.innerType)} | null`;
  if (t instanceof z.ZodEnum) return (t.options as string[]).map((o) => JSON.stringify(o)).join(' | ');
  if (t instanceof z.ZodLiteral) return JSON.stringify(t.value);
  if (t instanceof z.ZodArray) return `${typeName(t.element)}[]`;
  if (t instanceof z.ZodEffects) return typeName(t.innerType());
  return (t._def as { typeName?: string }).typeName?.replace(/^Zod/, '').toLowerCase() ?? 'unknown';
}

function capabilitiesOf(p: TesseraPlugin): { provides: string[]; requires: string[] } {
  const parsed = p.options.safeParse({});
  if (!parsed.success) return { provides: ['(depends on required options)'], requires: [] };
  const caps = p.capabilities(parsed.data);
  return { provides: caps.provides, requires: caps.requires.map((r) => `${r.slot}: ${r.anyOf.join(' | ')}`) };
}

/**
 * A loaded third-party plugin must be the one its package.json announces: discovery lists
 * packages by their `tessera` field without importing them, so the two must agree.
 */
function checkAnnounced(l: PluginListing): void {
  if (!l.plugin || l.error || l.packageName.startsWith('@tessera/') || l.name === l.packageName || l.name === l.plugin.name) return;
  l.error = new TesseraError('PLUGIN_INVALID', `\`${l.packageName}\`: package.json field \`tessera.name\` is \`${l.name}\` but the plugin is named \`${l.plugin.name}\`; make them the same (configs use the name)`, {
    subject: `${l.kind}/${l.plugin.name}`, data: { packageName: l.packageName, announced: l.name, name: l.plugin.name, problem: 'name-mismatch' },
  });
}

export function pluginsReport(host: PluginHost, searchPaths: string[], check: boolean): { listings: PluginListing[]; json: unknown[] } {
  const listings = listPlugins(host, searchPaths, check);
  listings.forEach(checkAnnounced);
  const json = listings.map((l) => ({
    kind: l.kind,
    name: l.name,
    package: l.packageName,
    ...(l.plugin ? { apiVersion: l.plugin.apiVersion, description: l.plugin.description, ...capabilitiesOf(l.plugin), options: describeOptions(l.plugin.options), parityKinds: l.plugin.parity.map((h) => h.kind) } : {}),
    ...(l.error ? { error: `${l.error.code}: ${l.error.message}` } : {}),
  }));
  return { listings, json };
}

export function formatPlugins(json: unknown[]): string {
  const lines: string[] = [];
  for (const e of json as Record<string, unknown>[]) {
    lines.push(`${e.kind}/${e.name}  (${e.package})${e.error ? `  UNAVAILABLE: ${e.error}` : ''}`);
    if (e.error) continue;
    if (!e.description) {
      lines.push('  not imported (run with --check to load and validate it)');
      continue;
    }
    lines.push(`  ${e.description}`);
    lines.push(`  provides: ${(e.provides as string[]).join(', ') || '-'}`);
    lines.push(`  requires: ${(e.requires as string[]).join(', ') || '-'}`);
    lines.push(`  options:  ${(e.options as string[]).join('\n            ')}`);
  }
  return lines.join('\n');
}
