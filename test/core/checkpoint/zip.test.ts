import { expect } from 'chai';
import { ZipArchive, bufferSource } from '@tessera/core';
import { expectError, makeZip } from './helpers';

const FILE = 'a.pth';
const open = (bytes: Uint8Array) => ZipArchive.open(bufferSource(bytes), FILE);
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

describe('checkpoint/zip', () => {
  const entries = [
    { name: 'arc/data.pkl', data: Buffer.from('pickle bytes') },
    { name: 'arc/data/0', data: new Uint8Array(1000).fill(7), method: 8 },
    { name: 'arc/empty', data: new Uint8Array(0) },
  ];

  it('reads stored and deflated entries', () => {
    const zip = open(makeZip(entries));
    expect(zip.names()).to.deep.equal(['arc/data.pkl', 'arc/data/0', 'arc/empty']);
    expect(text(zip.read('arc/data.pkl'))).to.equal('pickle bytes');
    expect([...zip.read('arc/data/0')]).to.deep.equal(new Array(1000).fill(7));
    expect(zip.read('arc/empty').length).to.equal(0);
    expect(zip.entry('arc/data/0')).to.include({ method: 8, size: 1000 });
  });

  it('reads ZIP64 end records and extra fields', () => {
    const zip = open(makeZip(entries, { zip64: true }));
    expect(zip.entry('arc/data/0')).to.include({ size: 1000 });
    expect(text(zip.read('arc/data.pkl'))).to.equal('pickle bytes');
    expect(zip.read('arc/data/0').length).to.equal(1000);
  });

  it('finds the end record behind an archive comment', () => {
    expect(text(open(makeZip(entries, { comment: 'PK\x05\x06 not a record' })).read('arc/data.pkl'))).to.equal('pickle bytes');
  });

  it('rejects truncated archives as CHECKPOINT_CORRUPT naming the file', () => {
    const bytes = makeZip(entries);
    for (const cut of [1, 30, bytes.length - 10]) {
      expect(expectError(() => open(bytes.subarray(0, bytes.length - cut)), 'CHECKPOINT_CORRUPT').data.file).to.equal(FILE);
    }
    expectError(() => open(new Uint8Array(10)), 'CHECKPOINT_CORRUPT');
  });

  it('rejects entry data that fails its CRC', () => {
    const zip = open(makeZip([{ name: 'x', data: Buffer.from('abc'), crc: 1234 }]));
    expect(expectError(() => zip.read('x'), 'CHECKPOINT_CORRUPT').data).to.include({ file: FILE, entry: 'x' });
  });

  it('rejects a deflated entry that inflates to another size than declared', () => {
    const bytes = Buffer.from(makeZip([{ name: 'x', data: new Uint8Array(64), method: 8 }]));
    const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(16, central + 24); // declared uncompressed size
    expectError(() => open(new Uint8Array(bytes)).read('x'), 'CHECKPOINT_CORRUPT');
  });

  it('rejects duplicate names and reports missing entries', () => {
    expectError(() => open(makeZip([{ name: 'x', data: new Uint8Array(1) }, { name: 'x', data: new Uint8Array(1) }])), 'CHECKPOINT_CORRUPT');
    expect(expectError(() => open(makeZip(entries)).read('nope'), 'CHECKPOINT_CORRUPT').data.entry).to.equal('nope');
  });

  it('refuses compression methods other than stored and deflate', () => {
    const err = expectError(() => open(makeZip([{ name: 'x', data: new Uint8Array(4), method: 12 }])), 'CHECKPOINT_UNSUPPORTED');
    expect(err.data).to.include({ file: FILE, entry: 'x', method: 12 });
  });
});
