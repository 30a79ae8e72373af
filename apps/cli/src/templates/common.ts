/**
 * The files every scaffolded plugin package shares: package.json (the `tessera` field and
 * keyword that discovery reads, `@tessera/core` as a peer dependency with the range this
 * core implements), a standalone tsconfig, a .gitignore and the README. Generated code
 * is plain text with `__name__`-style placeholders filled by `fill`.
 */
import { CORE_PEER_RANGE, PluginKind } from '@tessera/core';

/** Versions of the tools a generated package builds and tests with (the ones Tessera uses). */
export const TOOL_VERSIONS = { mocha: '^11.7.0', typescript: '~5.9.3' } as const;

export interface TemplateVars {
  kind: PluginKind;
  /** Kebab-case plugin name, e.g. `gauss`. */
  name: string;
  /** `tessera-plugin-<kind>-<name>` */
  packageName: string;
  /** PascalCase of the name, e.g. `MyHead` for `my-head`. */
  Name: string;
  /** camelCase of the name, e.g. `myHead`. */
  camel: string;
}

/** Replaces `__kind__`, `__name__`, `__Name__`, `__camel__` and `__package__` in a template. */
export function fill(template: string, v: TemplateVars): string {
  return template.replace(/__kind__/g, v.kind).replace(/__name__/g, v.name).replace(/__Name__/g, v.Name).replace(/__camel__/g, v.camel).replace(/__package__/g, v.packageName);
}

/** Dependency ranges core itself uses, so the plugin shares core's zod and tsyringe. */
function coreDependency(name: 'zod' | 'tsyringe'): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pkg = require('@tessera/core/package.json') as { dependencies: Record<string, string> };
  return pkg.dependencies[name];
}

export function packageJson(v: TemplateVars, description: string): string {
  return `${JSON.stringify({
    name: v.packageName,
    version: '0.1.0',
    description,
    license: 'MIT',
    main: 'dist/index.js',
    types: 'dist/index.d.ts',
    files: ['dist'],
    keywords: ['tessera-plugin', 'tessera', v.kind],
    tessera: { kind: v.kind, name: v.name },
    scripts: {
      build: 'tsc -p tsconfig.json',
      test: 'npm run build && mocha --timeout 60000 test/*.test.js',
      prepublishOnly: 'npm test',
    },
    peerDependencies: { '@tessera/core': CORE_PEER_RANGE },
    dependencies: { tsyringe: coreDependency('tsyringe'), zod: coreDependency('zod') },
    devDependencies: { '@tessera/core': CORE_PEER_RANGE, mocha: TOOL_VERSIONS.mocha, typescript: TOOL_VERSIONS.typescript },
  }, null, 2)}\n`;
}

export const TSCONFIG = `${JSON.stringify({
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2022'],
    module: 'node16',
    moduleResolution: 'node16',
    strict: true,
    esModuleInterop: true,
    skipLibCheck: true,
    declaration: true,
    sourceMap: true,
    types: [],
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
}, null, 2)}\n`;

export const GITIGNORE = 'node_modules/\ndist/\n*.tgz\n';

export function readme(v: TemplateVars, what: string, configExample: string): string {
  return fill([
    '# __package__',
    '',
    `A Tessera __kind__ plugin: ${what}`,
    '',
    '## Use it',
    '',
    '    npm install __package__',
    '',
    'then name it in a generator config (the short name `__name__` finds the package `__package__`):',
    '',
    `    ${configExample}`,
    '',
    'and check it with `tessera config validate <config.json>` and `tessera plugins --check`.',
    '',
    '## Develop',
    '',
    '    npm install',
    '    npm test        # builds, then runs the conformance suite of @tessera/core/testing on every engine',
    '',
    'The implementation is in `src/`; `src/index.ts` declares the plugin with `definePlugin`: its',
    'options (a strict zod schema with defaults), its capabilities and how it registers. Keep the',
    '`tessera` field of package.json and the `tessera-plugin` keyword: they are how `tessera plugins`',
    'finds the package without importing it.',
    '',
    '## Publish',
    '',
    '    npm publish     # runs the tests first (prepublishOnly)',
    '',
    '`@tessera/core` is a peer dependency: the project that uses the plugin provides it, and the',
    'range says which core releases implement the plugin api this package was built for.',
    '',
  ].join('\n'), v);
}
