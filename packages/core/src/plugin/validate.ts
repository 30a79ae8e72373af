/**
 * What the host checks of an imported plugin beyond its shape and api version (done in
 * host.ts): a kebab-case name, a strict options schema (unknown keys must be an error,
 * or a typo in a config would be silently ignored), and capabilities that use the
 * shared vocabulary (contracts/capabilities.ts) or a namespaced `vendor:name`, with
 * requirements on other slots that say what they need. Each problem is one
 * `PLUGIN_INVALID` error naming the package, the plugin and the fix.
 */
import { z } from 'zod';
import { CAPABILITIES, Capabilities, Slot } from '../contracts/capabilities';
import { TesseraError } from '../errors';
import { PLUGIN_KINDS, pluginId, TesseraPlugin } from './define';

/** Capability names a plugin may use: the shared ones, or `vendor:name`. */
export function isKnownCapability(c: string): boolean {
  return Object.prototype.hasOwnProperty.call(CAPABILITIES, c) || /^[a-z0-9-]+:[a-z0-9.-]+$/.test(c);
}

const SHARED = Object.keys(CAPABILITIES).map((c) => `\`${c}\``).join(', ');

/** Whether a schema refuses unknown keys (with a `unrecognized_keys` issue). */
export function rejectsUnknownKeys(schema: z.ZodTypeAny): boolean {
  const probe = schema.safeParse({ __tesseraUnknownKey__: true });
  return !probe.success && probe.error.issues.some((i) => i.code === z.ZodIssueCode.unrecognized_keys);
}

export function validatePlugin(plugin: TesseraPlugin, packageName: string): void {
  const id = pluginId(plugin);
  const fail = (problem: string, message: string, data: Record<string, unknown> = {}): never => {
    throw new TesseraError('PLUGIN_INVALID', `\`${packageName}\` ${message}`, { subject: id, data: { packageName, plugin: id, problem, ...data } });
  };
  if (!/^[a-z][a-z0-9-]*$/.test(plugin.name)) {
    fail('name', `has the plugin name \`${plugin.name}\`; use lower-case kebab case (it is the \`name\` configs use, as in \`tessera-plugin-${plugin.kind}-<name>\`)`, { name: plugin.name });
  }
  if (!rejectsUnknownKeys(plugin.options)) {
    fail('options-not-strict', 'has an options schema that accepts unknown keys, so a misspelt option would be ignored; make it strict: `z.object({ ... }).strict()`');
  }
  const defaults = plugin.options.safeParse({});
  if (!defaults.success) return; // capabilities depend on options a config must give; checked when one is loaded
  let caps: Capabilities;
  try {
    caps = plugin.capabilities(defaults.data);
  } catch (e) {
    return fail('capabilities-throw', `throws from \`capabilities()\` with its default options: ${(e as Error).message}. Return \`{ provides, requires }\` for every valid options object`);
  }
  if (!caps || !Array.isArray(caps.provides) || !Array.isArray(caps.requires)) {
    fail('capabilities-shape', 'returns something other than `{ provides: string[], requires: Requirement[] }` from `capabilities()`');
  }
  for (const c of caps.provides) {
    if (!isKnownCapability(c)) fail('capability-unknown', `provides the unknown capability \`${c}\`; use one of ${SHARED}, or a namespaced \`vendor:name\` for a new one`, { capability: c });
  }
  const slots = PLUGIN_KINDS as readonly string[];
  for (const r of caps.requires) {
    if (!slots.includes(r.slot) || r.slot === plugin.kind) {
      fail('requirement-slot', `requires capabilities from the slot \`${r.slot}\`; name another slot: ${slots.filter((s) => s !== plugin.kind).map((s) => `\`${s}\``).join(', ')}`, { slot: r.slot });
    }
    if (!Array.isArray(r.anyOf) || r.anyOf.length === 0 || !r.need) {
      fail('requirement-empty', `has a requirement on the ${r.slot as Slot} without capabilities or a \`need\`; give \`anyOf: [...]\` and a \`need\` text`, { slot: r.slot });
    }
    for (const c of r.anyOf) {
      if (!isKnownCapability(c)) fail('capability-unknown', `requires the unknown capability \`${c}\` from the ${r.slot}; no plugin can provide it. Use one of ${SHARED}, or a namespaced \`vendor:name\``, { capability: c });
    }
  }
}
