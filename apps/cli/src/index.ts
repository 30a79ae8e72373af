/**
 * The `tessera` command. Exit codes: 0 success, 1 the work failed, 2 bad usage or bad
 * input. Errors print one line (code and message) unless `--verbose`.
 */
import { Command, CommanderError } from 'commander';
import { isTesseraError, TesseraError } from '@tessera/core';
import { createHost } from './builtins';
import { doctor, formatDoctor } from './commands/doctor';
import { formatPlugins, pluginsReport } from './commands/plugins';
import { validateConfig } from './commands/config';
import { inspectWeights } from './commands/inspect';
import { parityCommand } from './commands/parity';

const write = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('tessera')
    .description('Autoregressive image generation as configurations of tokenizer, direction, head and backbone plugins')
    .option('--verbose', 'print stack traces with errors')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program.command('doctor')
    .description('engines, tfjs backend, onnxruntime providers, CUDA availability and versions')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const r = await doctor();
      write(o.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
    });

  program.command('plugins')
    .description('installed plugins with kind, capabilities and options schema (third-party ones are read from package.json; --check imports them)')
    .option('--check', 'import and validate every installed plugin')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean; check?: boolean }) => {
      const { json, listings } = pluginsReport(createHost(), [process.cwd()], !!o.check);
      write(o.json ? JSON.stringify(json, null, 2) : formatPlugins(json));
      if (listings.some((l) => l.error)) setExit(1);
    });

  const config = program.command('config').description('work with generator configs');
  config.command('validate <file>')
    .description('check a config: schema, plugins, options (with JSON paths) and plugin compatibility')
    .action((file: string) => {
      write(validateConfig(createHost(), file).text);
    });

  program.command('inspect <file>')
    .description('tensor names, shapes, dtypes and parameter count of a .safetensors, .pth or .ckpt')
    .option('--key <key>', 'select a nested dict such as model or model_ema')
    .option('--json', 'machine-readable output')
    .action((file: string, o: { key?: string; json?: boolean }) => {
      const r = inspectWeights(file, o.key);
      write(o.json ? JSON.stringify(r.json, null, 2) : r.text);
    });

  program.command('parity <dirs...>')
    .description('run golden-case manifests against Tessera; one line per case and a summary')
    .option('--engine <engine>', 'tfjs, onnx or all', 'tfjs')
    .option('--kinds <globs>', "comma-separated kind globs, e.g. 'var.interp.*'")
    .option('--json', 'machine-readable output')
    .action(async (dirs: string[], o: { engine: string; kinds?: string; json?: boolean }) => {
      setExit(await parityCommand(dirs, o, createHost(), write));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => { code = Math.max(code, c); });
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit through here with code 0
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isTesseraError(e)) {
      process.stderr.write(`${e.code}: ${e.message}\n`);
      if (verbose) process.stderr.write(`${e.stack}\n`);
      return e.exitCode;
    }
    process.stderr.write(`INTERNAL: ${(e as Error).message ?? String(e)}\n`);
    if (verbose) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

export { TesseraError };
