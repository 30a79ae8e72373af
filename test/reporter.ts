/**
 * Mocha's spec reporter plus one closing line, `N passed, N failed`, that CI reads
 * the same way whatever the test runner.
 */
import Mocha from 'mocha';

class TesseraReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once('end', () => {
      const s = this.stats;
      const skipped = s.pending ? `, ${s.pending} skipped` : '';
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed${skipped}\n`);
    });
  }
}

export = TesseraReporter;
