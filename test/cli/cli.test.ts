import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CLI, FIXTURES, REPO } from '../paths';

function tessera(args: string[], cwd = REPO): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 300000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('cli', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
  });

  it('prints help and runs doctor and plugins', () => {
    expect(tessera(['--help']).stdout).to.contain('parity');
    const d = tessera(['doctor', '--json']);
    expect(d.code, d.stderr).to.equal(0);
    const report = JSON.parse(d.stdout);
    expect(report.engines).to.include('tfjs');
    expect(['wasm', 'cpu', 'tensorflow']).to.include(report.tfjs.activeBackend);
    const p = tessera(['plugins', '--json']);
    expect(p.code, p.stderr).to.be.oneOf([0, 1]);
    expect(JSON.parse(p.stdout)).to.be.an('array');
  });

  it('passes the var.interp fixtures and filters by kind', () => {
    const r = tessera(['parity', FIXTURES, '--kinds', 'var.interp.*']);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^2 passed, 0 failed$/m);
    expect(r.stdout).to.not.contain('var.quant');
  });

  it('exits non-zero and says unsupported for a kind nobody handles', () => {
    const dir = path.join(tmp, 'unknown-kind');
    mkdirSync(dir, { recursive: true });
    const src = path.join(FIXTURES, 'var', 'interp_area_down_16.json');
    const m = JSON.parse(readFileSync(src, 'utf8'));
    m.kind = 'nobody.handles.this';
    m.tensors = path.join(FIXTURES, 'var', m.tensors);
    writeFileSync(path.join(dir, 'case.json'), JSON.stringify(m));
    const r = tessera(['parity', dir]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.contain('unsupported');
    expect(r.stdout).to.match(/^0 passed, 1 failed$/m);
  });

  it('inspects every .pth of the fixtures', () => {
    const pths = readdirSync(FIXTURES).filter((m) => !m.includes('.')).flatMap((m) => readdirSync(path.join(FIXTURES, m)).filter((f) => f.endsWith('.pth')).map((f) => path.join(FIXTURES, m, f)));
    expect(pths.length).to.be.greaterThan(0);
    for (const f of pths) {
      const r = tessera(['inspect', f, '--json']);
      if (r.code !== 0) {
        // a wrapped checkpoint needs --key; the error lists the keys
        expect(r.stderr).to.match(/^CHECKPOINT_/);
        const key = /`(model(_ema)?|state_dict)`/.exec(r.stderr)?.[1] ?? 'model';
        const k = tessera(['inspect', f, '--key', key, '--json']);
        expect(k.code, k.stderr).to.equal(0);
      }
    }
  });

  it('gives a one-line error naming the file for truncated weights', () => {
    for (const [name, src] of [['cut.safetensors', path.join(FIXTURES, 'var', 'interp_area_down_16.safetensors')], ['cut.pth', path.join(FIXTURES, 'mar', 'vae_encode.pth')]]) {
      const dst = path.join(tmp, name);
      const bytes = readFileSync(src);
      writeFileSync(dst, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const r = tessera(['inspect', dst]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^CHECKPOINT_CORRUPT: /).and.to.contain(name);
    }
  });

  it('validates configs: JSON path of a wrong option type, both plugins of an incompatible pair', () => {
    const write = (name: string, cfg: unknown): string => {
      const file = path.join(tmp, name);
      writeFileSync(file, JSON.stringify(cfg));
      return file;
    };
    const good = { name: 'ok', tokenizer: { use: 'msvq', options: { vocabSize: 16 } }, direction: { use: 'scale' }, head: { use: 'categorical' }, backbone: { use: 'adaln' } };
    const ok = tessera(['config', 'validate', write('good.json', good)]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain('head/categorical').and.to.contain('defaulted');

    const wrongType = tessera(['config', 'validate', write('wrong-type.json', { ...good, head: { use: 'categorical', options: { temperature: 'hot' } } })]);
    expect(wrongType.code).to.equal(2);
    expect(wrongType.stderr.trim().split('\n')).to.have.length(1);
    expect(wrongType.stderr).to.match(/^CONFIG_INVALID/).and.to.contain('head.options.temperature');

    const incompatible = tessera(['config', 'validate', write('incompatible.json', { ...good, tokenizer: { use: 'vae' } })]);
    expect(incompatible.code).to.equal(2);
    expect(incompatible.stderr).to.match(/^PLUGIN_INCOMPATIBLE/).and.to.contain('head/categorical').and.to.contain('tokenizer/vae').and.to.contain('discrete');

    const missing = tessera(['config', 'validate', path.join(tmp, 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/^CONFIG_NOT_FOUND/);
  });
});
