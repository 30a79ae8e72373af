/**
 * The `tessera` command. Exit codes: 0 success, 1 the work failed, 2 bad usage or bad
 * input. Errors print one line (code and message) unless `--verbose`.
 */
import { Command, CommanderError } from 'commander';
import { isTesseraError, TesseraError } from '@tessera/core';
import { createHost } from './builtins';
import { doctor, formatDoctor } from './commands/doctor';
import { formatPlugins, pluginsReport } from './commands/plugins';
import { formatPluginNew, pluginNew, type PluginNewFlags } from './commands/plugin-new';
import { validateConfig } from './commands/config';
import { inspectWeights } from './commands/inspect';
import { parityCommand } from './commands/parity';
import { benchCommand, type BenchFlags } from './commands/bench';
import { trainCommand, type TrainFlags } from './commands/train';
import { sampleCommand, type SampleFlags } from './commands/sample';
import { editCommand, type EditFlags } from './commands/edit';
import { reconstructCommand, type ReconstructFlags } from './commands/reconstruct';
import { exportCommand, type ExportFlags } from './commands/export';

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

  program.command('plugin').description('write plugin packages')
    .command('new <kind> <name>')
    .description('scaffold a plugin package tessera-plugin-<kind>-<name> (tokenizer, direction, head or backbone) that builds and passes the conformance suite as generated')
    .option('--dir <path>', 'folder to create the package in (default: the current folder)')
    .action((kind: string, name: string, o: PluginNewFlags) => {
      write(formatPluginNew(pluginNew(kind, name, o)));
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

  program.command('bench')
    .description('sampling throughput (tiny presets on tfjs and onnx; VAR-d16, FAR-B, MAR-B, HART-256 on onnx vs the official code), traced matmul GFLOP/s, a training step')
    .option('--json', 'machine-readable output')
    .option('--quick', 'a few minutes: tiny presets, matmul, VAR-d16 batch 1')
    .option('--full', 'the PEER_BENCH.md settings at batch 1 and 8 (tens of minutes)')
    .option('--only <presets>', 'comma-separated preset names (var-tiny, far-tiny, mar-tiny, hart-tiny, var-d16, hart-256, far-b, mar-b)')
    .option('--configs <dir>', 'folder of the preset configs (default: configs/ found from the working directory)')
    .option('--device <device>', 'onnx device: cpu, cuda or auto', 'auto')
    .option('--threads <n>', 'intra-op threads of the onnx engine (default: all cores)')
    .option('--spinning', 'busy-waiting onnxruntime threads while sampling')
    .option('--precision <p>', 'onnx engine: fp32 (default), int8 (int8 linear layers in traced graphs) or int8-conv (and int8 convolutions)', 'fp32')
    .option('--diffusion-steps <n>', "FAR-B / MAR-B at n diffusion steps instead of the plan's, each after a warm-up run")
    .action(async (o: BenchFlags) => {
      await benchCommand(o, write);
    });

  const ENGINE_HELP = 'tfjs or onnx (default: onnx where onnxruntime-node loads, else tfjs)';
  const DEVICE_HELP = 'cpu, cuda or auto (onnx: the CUDA execution provider where its binaries are installed)';
  const CFG_HELP = 'guidance scale s of s·cond − (s−1)·uncond, 1 = none (MAR/FAR cfg = s; VAR/HART cfg c = s − 1: VAR cfg 1.5 is --cfg 2.5)';
  const weightOptions = (c: Command): Command => c
    .option('--weights <file>', 'transformer weights: backbone + head in the official layout (var_d16.pth, checkpoint-last.pth)')
    .option('--key <key>', "nested dict of a torch --weights file (model_ema) or name prefix of a safetensors one; default: the config's weights note")
    .option('--tokenizer-weights <file>', 'tokenizer weights (vae_ch160v4096z32.pth, kl16.ckpt)')
    .option('--tokenizer-key <key>', 'nested dict or name prefix of --tokenizer-weights')
    .option('--random-weights', 'random weights (seeded by --seed) for the modules no file sets')
    .option('--engine <engine>', ENGINE_HELP)
    .option('--device <device>', DEVICE_HELP, 'auto');
  const samplingOptions = (c: Command): Command => c
    .option('--class <c...>', 'class labels (null = unconditional), cycled to --n; default: classes drawn from --seed')
    .option('--cfg <s>', CFG_HELP)
    .option('--cfg-schedule <schedule>', 'constant or linear (the direction\'s own ramp)')
    .option('--top-k <k>', 'keep the k most likely codes (categorical heads); none = off')
    .option('--top-p <p>', 'nucleus mass (categorical heads); none = off')
    .option('--temperature <t>', 'sampling temperature')
    .option('--diffusion-steps <steps>', 'respacing of diffusion heads (100, ddim25)')
    .option('--seed <n>', 'seed of the sampling draws (and of random weights)', '0');

  samplingOptions(weightOptions(program.command('sample')
    .description('sample class-conditional (or, with --context, text-conditioned HART) images into a labelled PNG grid; --dry-run prints parameter counts per module')
    .requiredOption('--config <file>', 'generator config (e.g. configs/var-d16.json) or a training run folder (tessera train --out)')))
    .option('--context <file>', 'text-conditioned HART: safetensors with `context` [N, T, D] (precomputed text-encoder features, one row per image) and optional `context_mask`, `context_position_ids` [N, T]; scripts/hart-context.py writes one from prompts')
    .option('--n <n>', 'number of images (default: the number of --class values or --context rows, else 16)')
    .option('--batch <b>', 'images per batch (default all)')
    .option('--out <file>', 'PNG grid; the resolved config goes beside it (grid.config.json)', 'grid.png')
    .option('--dry-run', 'build every module with lazy random weights and print parameter counts (nothing allocated)')
    .option('--json', 'with --dry-run: machine-readable counts')
    .option('--precision <p>', 'onnx engine: fp32 (default, the official numerics), int8 (int8 linear layers: faster, slightly different samples) or int8-conv (also the decoder\'s convolutions: faster still, noisier images)', 'fp32')
    .action(async (o: SampleFlags) => {
      await sampleCommand(createHost(), o, write);
    });

  samplingOptions(weightOptions(program.command('edit')
    .description("VAR's zero-shot in-painting / out-painting: regenerate the tokens under the white part of --mask")
    .requiredOption('--config <file>', 'next-scale generator config with a discrete multi-scale tokenizer, e.g. configs/var-d16.json')))
    .requiredOption('--image <file>', 'image to edit (resized and center-cropped to the tokenizer resolution)')
    .requiredOption('--mask <file>', 'mask image, same framing: white = regenerate, black = keep')
    .requiredOption('--out <file>', 'edited PNG; the resolved config goes beside it')
    .action(async (o: EditFlags) => {
      await editCommand(createHost(), o, write);
    });

  program.command('reconstruct <images...>')
    .description("encode and decode images with a tokenizer; writes PNGs and prints PSNR per image")
    .requiredOption('--config <file>', 'tokenizer config (configs/tokenizers/*.json) or a generator config')
    .option('--weights <file>', 'tokenizer weights (vae_ch160v4096z32.pth, kl16.ckpt)')
    .option('--key <key>', "nested dict (torch) or name prefix (safetensors) of --weights; default: the config's weights note")
    .option('--random-weights', 'random weights seeded by --seed')
    .option('--seed <n>', 'seed of random weights and of stochastic encoders', '0')
    .option('--engine <engine>', ENGINE_HELP)
    .option('--device <device>', DEVICE_HELP, 'auto')
    .requiredOption('--out <dir>', 'output folder')
    .action(async (images: string[], o: ReconstructFlags) => {
      await reconstructCommand(createHost(), images, o, write);
    });

  program.command('export')
    .description('ONNX graphs of a generator (decoder, backbone steps, head) and a JSON of the sampling loop that drives them')
    .requiredOption('--config <file>', 'generator config (JSON)')
    .option('--weights <file>', 'transformer weights (backbone + head, official layout)')
    .option('--key <key>', 'nested dict (torch) or name prefix (safetensors) of --weights')
    .option('--tokenizer-weights <file>', 'tokenizer weights')
    .option('--tokenizer-key <key>', 'nested dict or name prefix of --tokenizer-weights')
    .option('--random-weights', 'random weights (seeded by --seed) for modules without a file')
    .option('--seed <n>', 'seed of random weights', '0')
    .requiredOption('--out <dir>', 'export folder (replaced atomically)')
    .option('--batch <n>', 'images per run of the graphs', '1')
    .option('--cfg [scale]', 'export classifier-free guidance rows; optionally the guidance scale')
    .option('--json', 'machine-readable summary')
    .action(async (o: ExportFlags) => {
      await exportCommand(createHost(), o, write);
    });

  program.command('train')
    .description('train a generator (or its tokenizer) on an image folder or IDX data; checkpoints, metrics.jsonl and sample grids go to --out')
    .requiredOption('--config <file>', 'generator config with a `training` section, e.g. configs/var-tiny.json')
    .requiredOption('--data <path>', 'IDX folder (Fashion-MNIST) or image folder (one subfolder per class)')
    .option('--steps <n>', 'optimisation steps (default: the config\'s training.steps)')
    .option('--batch <b>', 'images per step (default: the config\'s training.batchSize)')
    .option('--out <dir>', 'run folder (default runs/<config name>)')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--target <target>', 'generator (the transformer) or tokenizer', 'generator')
    .option('--tokenizer-weights <file>', 'trained tokenizer: a weights file or a run folder of --target tokenizer (default: train one first into <out>/tokenizer)')
    .option('--tokenizer-steps <n>', 'steps of that first tokenizer run (default: the config\'s training.tokenizer.steps, else --steps)')
    .option('--random-tokenizer', 'train the generator on the codes of a randomly initialised tokenizer')
    .option('--seed <n>', 'seed of initialisation, data order and training draws (default: training.seed)')
    .action(async (o: TrainFlags) => {
      await trainCommand(createHost(), o, write);
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
