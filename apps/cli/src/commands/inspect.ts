/** `tessera inspect <file>`: tensor names, shapes, dtypes and parameter count of a weights file. */
import { describeWeights, loadWeights } from '@tessera/core';

export function inspectWeights(file: string, key: string | undefined): { text: string; json: unknown } {
  const weights = loadWeights(file, { key });
  const d = describeWeights(weights);
  const width = Math.max(4, ...d.rows.map((r) => r.name.length));
  const lines = d.rows.map((r) => `${r.name.padEnd(width)}  ${r.dtype.padEnd(8)}  [${r.shape.join(', ')}]`);
  lines.push(`${d.tensors} tensors, ${d.numel.toLocaleString('en-US')} parameters`);
  return { text: lines.join('\n'), json: d };
}
