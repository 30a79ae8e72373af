/**
 * Conformance checks shared by every plugin kind: option schema (strict, with defaults),
 * api version and naming, declared capabilities, and building through the plugin's
 * own `register` in a child container. Kind-specific suites add behaviour checks.
 * Checks are plain `{ name, run }` records so any test runner can execute them;
 * `describeConformance` registers them with mocha.
 */
import { container as rootContainer } from 'tsyringe';
import { z } from 'zod';
import type { Engine } from '../engine/engine';
import { DRAWS, ENGINE } from '../contracts/tokens';
import { SeededDraws } from '../rng/draws';
import { API_VERSION, PLUGIN_KINDS, pluginShape, TesseraPlugin } from '../plugin/define';
import { engineFactories } from '../engine/registry';
import { isKnownCapability } from '../plugin/validate';

export interface Check {
  name: string;
  run(): Promise<void> | void;
}

export class ConformanceError extends Error {
  constructor(plugin: TesseraPlugin, message: string) {
    super(`[${plugin.kind}/${plugin.name}] ${message}`);
    this.name = 'ConformanceError';
  }
}

export function assert(plugin: TesseraPlugin, condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(plugin, message);
}

export interface CommonSetup<O> {
  plugin: TesseraPlugin<O>;
  /** Options of a tiny instance (raw, before defaults). */
  options: Record<string, unknown>;
  /** Engines to run behaviour checks on; default: every registered engine that loads. */
  engines?: { name: string; create(): Promise<Engine> }[];
}

export function parseOptions<O>(setup: CommonSetup<O>): O {
  const parsed = setup.plugin.options.safeParse(setup.options);
  if (!parsed.success) throw new ConformanceError(setup.plugin, `the tiny options do not parse: ${parsed.error.issues[0]?.message} at ${parsed.error.issues[0]?.path.join('.')}`);
  return parsed.data;
}

/** Resolves the plugin's implementation through its own `register`, as the host does. */
export function instantiate<T, O>(setup: CommonSetup<O>, token: symbol, engine: Engine, seed = 0): T {
  const child = rootContainer.createChildContainer();
  child.register(ENGINE, { useValue: engine });
  child.register(DRAWS, { useValue: SeededDraws.fromSeed(seed) });
  setup.plugin.register(child, parseOptions(setup));
  return child.resolve<T>(token);
}

export function engineList<O>(setup: CommonSetup<O>): { name: string; create(): Promise<Engine> }[] {
  return setup.engines ?? [...engineFactories()];
}

export function commonChecks<O>(setup: CommonSetup<O>, kind: (typeof PLUGIN_KINDS)[number]): Check[] {
  const p = setup.plugin;
  return [
    {
      name: 'is a well-formed plugin object of the right kind and api version',
      run() {
        const shape = pluginShape.safeParse(p);
        assert(p, shape.success, `not a plugin object: ${shape.success ? '' : shape.error.issues[0]?.path.join('.')}`);
        assert(p, p.kind === kind, `kind is \`${p.kind}\`, expected \`${kind}\``);
        assert(p, p.apiVersion === API_VERSION, `api version ${p.apiVersion}; this core implements ${API_VERSION}`);
        assert(p, /^[a-z][a-z0-9-]*$/.test(p.name), `name \`${p.name}\` must be lower-case kebab (it becomes \`${kind}-${p.name}\` in package names)`);
        assert(p, p.description.length > 0, 'has no description');
      },
    },
    {
      name: 'has a strict options schema with defaults inside',
      run() {
        parseOptions(setup);
        const withUnknown = p.options.safeParse({ ...setup.options, __unknownOption__: 1 });
        assert(p, !withUnknown.success, 'accepts an unknown option key; make the schema `.strict()`');
        const issue = withUnknown.success ? undefined : withUnknown.error.issues[0];
        assert(p, issue?.code === z.ZodIssueCode.unrecognized_keys, `an unknown key fails with \`${issue?.code}\`, expected \`unrecognized_keys\``);
        const again = p.options.safeParse(parseOptions(setup));
        assert(p, again.success && stableJson(again.data) === stableJson(parseOptions(setup)), 'parsed options do not round-trip through the schema');
      },
    },
    {
      name: 'declares capabilities from the shared vocabulary',
      run() {
        const caps = p.capabilities(parseOptions(setup));
        for (const c of caps.provides) assert(p, isKnownCapability(c), `provides unknown capability \`${c}\` (use the shared names, or \`vendor:name\` for new ones)`);
        for (const r of caps.requires) {
          assert(p, r.slot !== kind, `requires \`${r.anyOf.join('|')}\` from its own slot`);
          assert(p, r.anyOf.length > 0 && r.need.length > 0, 'has a requirement without capabilities or a `need` text');
          for (const c of r.anyOf) assert(p, isKnownCapability(c), `requires unknown capability \`${c}\` from the ${r.slot}; no plugin can provide it`);
        }
      },
    },
    {
      name: 'registers through its own register() in a child container',
      async run() {
        const engines = engineList(setup);
        assert(p, engines.length > 0, 'no engine available');
        const F = await engines[0].create();
        const before = F.liveTensors();
        const child = rootContainer.createChildContainer();
        child.register(ENGINE, { useValue: F });
        child.register(DRAWS, { useValue: SeededDraws.fromSeed(0) });
        p.register(child, parseOptions(setup));
        assert(p, F.liveTensors() === before, 'register() allocated tensors; allocate lazily (parameters materialise on load/initialize)');
      },
    },
  ];
}

/** JSON with object keys sorted, so that key order does not matter. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}

/** Registers checks as a mocha suite (uses mocha's globals at run time). */
export function describeConformance(title: string, checks: Check[]): void {
  const g = globalThis as unknown as { describe?: (t: string, fn: () => void) => void; it?: (t: string, fn: () => Promise<void> | void) => void };
  if (!g.describe || !g.it) throw new Error('describeConformance must run inside a mocha test file; use the checks directly with another runner');
  const { describe, it } = g as Required<typeof g>;
  describe(title, () => {
    for (const c of checks) it(c.name, () => c.run());
  });
}
