/** `tessera parity <dir...>`: run fixture manifests against Tessera's implementations. */
import { CaseResult, PluginHost, resolveEngines, runParity, summarize } from '@tessera/core';
import { parityHandlers } from '../builtins';

export interface ParityCommandOptions {
  engine: string;
  kinds?: string;
  json?: boolean;
}

function formatResult(r: CaseResult): string {
  const err = Number.isFinite(r.maxAbsError) ? r.maxAbsError.toExponential(2) : 'inf';
  const status = r.status;
  return `${status.padEnd(11)} ${r.case.padEnd(40)} ${r.kind.padEnd(32)} ${r.engine.padEnd(5)} max|err| ${err}${r.message ? `  ${r.message.split('\n')[0]}` : ''}`;
}

export async function parityCommand(dirs: string[], options: ParityCommandOptions, host: PluginHost, write: (s: string) => void): Promise<number> {
  const results = await runParity({
    dirs,
    engines: resolveEngines(options.engine),
    handlers: parityHandlers(host),
    kinds: options.kinds ? options.kinds.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    onResult: options.json ? undefined : (r) => write(formatResult(r)),
  });
  const s = summarize(results);
  if (options.json) write(JSON.stringify({ results, passed: s.passed, failed: s.failed }, null, 2));
  else write(s.line);
  return s.failed > 0 || results.length === 0 ? 1 : 0;
}
