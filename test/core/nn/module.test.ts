import { expect } from 'chai';
import { Engine, isTesseraError, Linear, Module, Rng, TfjsEngine, HostTensor } from '@tessera/core';

class Net extends Module {
  readonly fc1: Linear;
  readonly blocks: Linear[];
  constructor(F: Engine) {
    super(F);
    this.fc1 = this.child('fc1', new Linear(F, 3, 4));
    this.blocks = this.list('blocks', [new Linear(F, 4, 4, false), new Linear(F, 4, 2)]);
  }
}

describe('core/nn/module', () => {
  let F: Engine;
  before(async () => { F = await TfjsEngine.create(); });

  it('names parameters like a torch state_dict and counts them without allocating', () => {
    const before = F.liveTensors();
    const net = new Net(F);
    expect(net.namedParameters().map(([k]) => k)).to.deep.equal(['fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.1.weight', 'blocks.1.bias']);
    expect(net.parameterCount()).to.equal(12 + 4 + 16 + 8 + 2);
    expect(F.liveTensors()).to.equal(before);
  });

  it('loads a state dict, and refuses a mismatched one without loading anything', async () => {
    const net = new Net(F).initialize(new Rng(0));
    const sd = await net.stateDict();
    const other = new Net(F);
    other.loadStateDict(sd);
    expect([...F.readSync(other.fc1.weight.value)]).to.deep.equal([...F.readSync(net.fc1.weight.value)]);
    const bad = new Map<string, HostTensor>(sd);
    bad.set('blocks.1.bias', { dtype: 'float32', shape: [3], data: new Float32Array(3) });
    bad.delete('fc1.bias');
    bad.set('extra', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    const fresh = new Net(F);
    try {
      fresh.loadStateDict(bad, { source: 'bad.safetensors' });
      expect.fail('should throw');
    } catch (e) {
      expect(isTesseraError(e, 'CHECKPOINT_MISMATCH')).to.equal(true);
      const data = (e as { data: { missing: string[]; unexpected: string[]; misShaped: string[] } }).data;
      expect(data.missing).to.deep.equal(['fc1.bias']);
      expect(data.unexpected).to.deep.equal(['extra']);
      expect(data.misShaped).to.have.length(1);
    }
    expect(fresh.fc1.weight.materialized).to.equal(false);
    net.dispose(); other.dispose();
  });
});
