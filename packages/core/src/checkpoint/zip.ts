/**
 * A minimal, strict ZIP reader (PKWARE APPNOTE.TXT 6.3: 4.3.16 end of central directory,
 * 4.3.14/4.3.15 ZIP64 end record and locator, 4.3.12 central directory, 4.3.7 local
 * header, 4.5.3 ZIP64 extra field). `torch.save` writes a zip of stored (uncompressed)
 * entries through miniz: local headers carry zero sizes plus a data descriptor, and
 * ZIP64 end records are written even for small files. So the central directory is the
 * source of truth for sizes and the local header only tells where the data starts.
 * Deflated entries are read too, for archives re-packed by other tools.
 * Anything inconsistent is CHECKPOINT_CORRUPT naming the file: a bad offset here means a
 * truncated download far more often than anything else.
 */
import * as zlib from 'node:zlib';
import { TesseraError } from '../errors';
import type { ByteSource } from './bytes';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

// zlib.crc32 arrived in Node 20.15; on older runtimes entries are read unchecked.
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export class ZipArchive {
  private constructor(
    private readonly source: ByteSource,
    readonly file: string,
    private readonly entries: ReadonlyMap<string, ZipEntry>,
    /** Where the central directory starts: entry data must end before it. */
    private readonly dataLimit: number,
  ) {}

  /** Parses the central directory of `source`; entry data is read on demand. */
  static open(source: ByteSource, file: string): ZipArchive {
    const { entryCount, cdOffset, cdSize, endOffset } = readEndRecords(source, file);
    if (cdOffset + cdSize > endOffset) {
      throw corrupt(file, `the central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end records at ${endOffset}`);
    }
    const entries = readCentralDirectory(viewOf(source.read(cdOffset, cdSize)), entryCount, file);
    return new ZipArchive(source, file, entries, cdOffset);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /**
   * The uncompressed bytes of one entry. By default a stored entry is a view into the
   * source; with `owned`, the result is always a fresh buffer of its own (byteOffset 0),
   * which a caller may keep as tensor data without aliasing anything else.
   */
  read(name: string, options: { owned?: boolean } = {}): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw corrupt(this.file, `the archive has no entry \`${name}\``, { entry: name });
    const at = entry.localHeaderOffset;
    if (at + 30 > this.dataLimit) throw corrupt(this.file, `entry \`${name}\` has its local header at ${at}, past the data area`, { entry: name });
    const local = viewOf(this.source.read(at, 30));
    if (local.getUint32(0, true) !== SIG_LOCAL) throw corrupt(this.file, `entry \`${name}\` has no local header at ${at}`, { entry: name });
    const nameLength = local.getUint16(26, true);
    const start = at + 30 + nameLength + local.getUint16(28, true);
    const end = start + entry.compressedSize;
    if (end > this.dataLimit) {
      throw corrupt(this.file, `entry \`${name}\` data [${start}, ${end}) runs past the data area, which ends at ${this.dataLimit}`, { entry: name });
    }
    const localName = new TextDecoder().decode(this.source.read(at + 30, nameLength));
    if (localName !== name) throw corrupt(this.file, `entry \`${name}\` has local header name \`${localName}\``, { entry: name });

    let bytes: Uint8Array;
    if (entry.method === 0) {
      bytes = options.owned ? new Uint8Array(this.source.copy(start, entry.compressedSize)) : this.source.read(start, entry.compressedSize);
    } else {
      const inflated = this.inflate(entry, this.source.read(start, entry.compressedSize));
      bytes = options.owned ? new Uint8Array(inflated) : inflated;
    }
    if (crc32 !== undefined && crc32(bytes) >>> 0 !== entry.crc32) {
      throw corrupt(this.file, `entry \`${name}\` fails its CRC-32 check`, { entry: name });
    }
    return bytes;
  }

  private inflate(entry: ZipEntry, raw: Uint8Array): Uint8Array {
    let out: Buffer;
    try {
      // The bound stops a lying header from inflating gigabytes.
      out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
    } catch (e) {
      throw corrupt(this.file, `entry \`${entry.name}\` does not inflate (${(e as Error).message})`, { entry: entry.name }, e);
    }
    if (out.length !== entry.size) {
      throw corrupt(this.file, `entry \`${entry.name}\` inflates to ${out.length} bytes, not the ${entry.size} its header says`, { entry: entry.name });
    }
    return out;
  }
}

interface EndRecords {
  entryCount: number;
  cdOffset: number;
  cdSize: number;
  /** Offset of the first end record: the central directory must end before it. */
  endOffset: number;
}

function readEndRecords(source: ByteSource, file: string): EndRecords {
  if (source.size < EOCD_SIZE) throw corrupt(file, `the file has ${source.size} bytes, too few for a zip archive`);
  const tailStart = Math.max(0, source.size - EOCD_SIZE - MAX_COMMENT);
  const tail = viewOf(source.read(tailStart, source.size - tailStart));
  // The comment is free text, so scan back for a signature whose comment length fits exactly.
  let eocd = -1;
  for (let i = tail.byteLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tail.getUint16(i + 20, true) === tail.byteLength) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt(file, 'there is no end-of-central-directory record; the file is truncated or not a zip archive');
  const eocdOffset = tailStart + eocd;
  const disk = tail.getUint16(eocd + 4, true);
  const cdDisk = tail.getUint16(eocd + 6, true);
  const records: EndRecords = {
    entryCount: tail.getUint16(eocd + 10, true),
    cdSize: tail.getUint32(eocd + 12, true),
    cdOffset: tail.getUint32(eocd + 16, true),
    endOffset: eocdOffset,
  };
  const hasLocator = eocd >= 20 && tail.getUint32(eocd - 20, true) === SIG_ZIP64_LOCATOR;
  const saturated = records.entryCount === 0xffff || records.cdSize === 0xffffffff || records.cdOffset === 0xffffffff;
  if (hasLocator) return readZip64End(source, file, tail, eocd - 20, tailStart);
  if (saturated) throw corrupt(file, 'the end record points to ZIP64 records that are missing');
  if (disk !== 0 || cdDisk !== 0 || tail.getUint16(eocd + 8, true) !== records.entryCount) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\` is a multi-part zip archive; join the parts into one file`, { data: { file } });
  }
  return records;
}

function readZip64End(source: ByteSource, file: string, tail: DataView, locator: number, tailStart: number): EndRecords {
  const recordOffset = readU64(tail, locator + 8, file);
  const locatorOffset = tailStart + locator;
  if (tail.getUint32(locator + 4, true) !== 0 || tail.getUint32(locator + 16, true) > 1) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\` is a multi-part zip archive; join the parts into one file`, { data: { file } });
  }
  if (recordOffset + 56 > locatorOffset) throw corrupt(file, `the ZIP64 end record offset ${recordOffset} is out of range`);
  const record = viewOf(source.read(recordOffset, 56));
  if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) throw corrupt(file, `there is no ZIP64 end record at ${recordOffset}`);
  const entryCount = readU64(record, 32, file);
  if (record.getUint32(16, true) !== 0 || record.getUint32(20, true) !== 0 || readU64(record, 24, file) !== entryCount) {
    throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\` is a multi-part zip archive; join the parts into one file`, { data: { file } });
  }
  return { entryCount, cdSize: readU64(record, 40, file), cdOffset: readU64(record, 48, file), endOffset: recordOffset };
}

function readCentralDirectory(cd: DataView, entryCount: number, file: string): Map<string, ZipEntry> {
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  for (let i = 0; i < entryCount; i++) {
    if (at + 46 > cd.byteLength || cd.getUint32(at, true) !== SIG_CENTRAL) {
      throw corrupt(file, `central directory entry ${i} of ${entryCount} is missing or malformed`);
    }
    const flags = cd.getUint16(at + 8, true);
    const method = cd.getUint16(at + 10, true);
    const nameLength = cd.getUint16(at + 28, true);
    const extraLength = cd.getUint16(at + 30, true);
    const next = at + 46 + nameLength + extraLength + cd.getUint16(at + 32, true);
    if (next > cd.byteLength) throw corrupt(file, `central directory entry ${i} runs past the directory`);
    let name: string;
    try {
      name = decoder.decode(new Uint8Array(cd.buffer, cd.byteOffset + at + 46, nameLength));
    } catch (e) {
      throw corrupt(file, `central directory entry ${i} has a name that is not UTF-8`, {}, e);
    }
    if (flags & 0x41) {
      throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\`: entry \`${name}\` is encrypted`, { data: { file, entry: name } });
    }
    if (method !== 0 && method !== 8) {
      throw new TesseraError('CHECKPOINT_UNSUPPORTED', `\`${file}\`: entry \`${name}\` uses compression method ${method}; Tessera reads stored (0) and deflate (8) entries`, {
        data: { file, entry: name, method },
      });
    }
    const sizes = {
      size: cd.getUint32(at + 24, true),
      compressedSize: cd.getUint32(at + 20, true),
      localHeaderOffset: cd.getUint32(at + 42, true),
    };
    applyZip64Extra(cd, at + 46 + nameLength, extraLength, sizes, name, file);
    if (method === 0 && sizes.size !== sizes.compressedSize) {
      throw corrupt(file, `stored entry \`${name}\` has size ${sizes.size} but ${sizes.compressedSize} bytes of data`, { entry: name });
    }
    if (entries.has(name)) throw corrupt(file, `entry \`${name}\` appears twice`, { entry: name });
    entries.set(name, { name, method, crc32: cd.getUint32(at + 16, true), ...sizes });
    at = next;
  }
  if (at !== cd.byteLength) throw corrupt(file, `the central directory has ${cd.byteLength - at} bytes after its ${entryCount} entries`);
  return entries;
}

/** ZIP64 extra field (id 1): 64-bit values for exactly the fields saturated at 0xFFFFFFFF, in this order. */
function applyZip64Extra(
  cd: DataView, start: number, length: number,
  sizes: { size: number; compressedSize: number; localHeaderOffset: number }, name: string, file: string,
): void {
  const wanted = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter((k) => sizes[k] === 0xffffffff);
  if (wanted.length === 0) return;
  for (let at = start; at + 4 <= start + length; ) {
    const id = cd.getUint16(at, true);
    const fieldLength = cd.getUint16(at + 2, true);
    if (at + 4 + fieldLength > start + length) break;
    if (id === 0x0001) {
      if (fieldLength < wanted.length * 8) break;
      wanted.forEach((key, i) => (sizes[key] = readU64(cd, at + 4 + i * 8, file)));
      return;
    }
    at += 4 + fieldLength;
  }
  throw corrupt(file, `entry \`${name}\` needs a ZIP64 extra field for ${wanted.join(', ')} and has no valid one`, { entry: name });
}

function readU64(view: DataView, at: number, file: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `a 64-bit size or offset (${value}) is out of range`);
  return Number(value);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function corrupt(file: string, what: string, data: Record<string, unknown> = {}, cause?: unknown): TesseraError {
  return new TesseraError('CHECKPOINT_CORRUPT', `\`${file}\`: ${what}; the archive is truncated or corrupt`, { data: { file, ...data }, cause });
}
