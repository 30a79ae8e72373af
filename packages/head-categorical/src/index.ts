/**
 * @tessera/head-categorical: head `categorical`, a softmax over the tokenizer's
 * codebook (VAR's head): label-smoothed cross-entropy for training and a sampler with
 * classifier-free guidance, temperature, top-k, top-p, greedy and VAR's Gumbel
 * smoothing. Needs a tokenizer with discrete tokens.
 */
import { DependencyContainer, instanceCachingFactory } from 'tsyringe';
import { definePlugin, ENGINE, HEAD, PluginHost, pluginId, zodIssueError } from '@tessera/core';
import type { Head } from '@tessera/core';
import { CategoricalHead } from './head';
import { categoricalHeadOptions, CategoricalHeadOptions } from './options';

/**
 * The composed residual head (option `residual`), built the way a config slot is: the
 * plugin is found by name through a PluginHost (plugins never import each other), its
 * options are checked by its own schema, and it registers in a child container.
 */
function residualHead(c: DependencyContainer, spec: NonNullable<CategoricalHeadOptions['residual']>): Head {
  const { plugin } = new PluginHost({ searchPaths: [process.cwd(), __dirname] }).load('head', spec.use);
  const parsed = plugin.options.safeParse(spec.options);
  if (!parsed.success) throw zodIssueError(parsed.error, 'config', ['head', 'options', 'residual', 'options'], pluginId(plugin));
  const child = c.createChildContainer();
  plugin.register(child, parsed.data);
  return child.resolve(HEAD);
}
import { categoricalParityHandlers } from './parity';

export * from './head';
export * from './loss';
export * from './options';
export * from './parity';
export * from './residual-loss';
export * from './sampling';

export const plugin = definePlugin({
  name: 'categorical',
  kind: 'head',
  description: 'Softmax over a codebook (VAR): label-smoothed cross-entropy; CFG, temperature, top-k/top-p, greedy and Gumbel-smoothed sampling',
  options: categoricalHeadOptions,
  capabilities: (options) => ({
    provides: [],
    requires: [{
      slot: 'tokenizer',
      anyOf: ['discrete'],
      need: 'discrete tokens',
      fix: 'use head `diffusion`, or a discrete tokenizer such as `msvq`',
    }, ...(options.residual ? [{
      slot: 'tokenizer' as const,
      anyOf: ['residual'],
      need: 'the continuous residual left after discrete reconstruction (option `residual`)',
      fix: 'use tokenizer `msvq` with `hybrid: true`, or drop the `residual` option',
    }] : [])],
  }),
  register(container, options) {
    container.register(HEAD, {
      useFactory: instanceCachingFactory((c) => new CategoricalHead(c.resolve(ENGINE), options, options.residual ? residualHead(c, options.residual) : undefined)),
    });
  },
  parity: categoricalParityHandlers,
});

export default plugin;
