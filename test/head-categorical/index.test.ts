import 'reflect-metadata';
import { expect } from 'chai';
import { container } from 'tsyringe';
import { ENGINE, HEAD, TfjsEngine } from '@tessera/core';
import plugin, { CategoricalHead } from '@tessera/head-categorical';

describe('head-categorical plugin', () => {
  it('is head `categorical` with VAR-sized defaults and null (off) filters', () => {
    expect(plugin.name).to.equal('categorical');
    expect(plugin.kind).to.equal('head');
    expect(plugin.options.parse({})).to.deep.equal({
      width: 1024, vocab: 4096, adaLN: true, norm: 'layer', normEps: 1e-6, labelSmoothing: 0, temperature: 1, topK: null, topP: null, residual: null,
      residualTraining: { topK: 600, topP: 0.96 },
    });
  });

  it('rejects unknown keys and sentinel values', () => {
    expect(plugin.options.safeParse({ widht: 8 }).success).to.equal(false);
    expect(plugin.options.safeParse({ topK: 0 }).success).to.equal(false);
    expect(plugin.options.safeParse({ topK: -1 }).success).to.equal(false);
    expect(plugin.options.safeParse({ topP: 0 }).success).to.equal(false);
    expect(plugin.options.safeParse({ labelSmoothing: 1 }).success).to.equal(false);
    expect(plugin.options.safeParse({ topK: 900, topP: 0.96, labelSmoothing: 0.1 }).success).to.equal(true);
  });

  it('requires discrete tokens from the tokenizer', () => {
    const caps = plugin.capabilities(plugin.options.parse({}));
    expect(caps.requires).to.have.length(1);
    expect(caps.requires[0].slot).to.equal('tokenizer');
    expect(caps.requires[0].anyOf).to.deep.equal(['discrete']);
    expect(caps.requires[0].need).to.equal('discrete tokens');
  });

  it('registers one head instance per container under HEAD', async () => {
    const engine = await TfjsEngine.create();
    const child = container.createChildContainer();
    child.registerInstance(ENGINE, engine);
    plugin.register(child, plugin.options.parse({ width: 8, vocab: 16 }));
    const head = child.resolve(HEAD);
    expect(head).to.be.instanceOf(CategoricalHead);
    expect(child.resolve(HEAD)).to.equal(head);
    expect(head.id).to.equal('head/categorical');
    expect(head.module.parameterCount()).to.equal(2 * 8 * 8 + 2 * 8 + 16 * 8 + 16);
  });

  it('ships the var.sample.topk_topp parity handler', () => {
    expect(plugin.parity.map((h) => h.kind)).to.deep.equal(['var.sample.topk_topp']);
  });
});
