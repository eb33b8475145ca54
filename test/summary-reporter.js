/**
 * Prints one plain closing line ("jest: N passed, N failed") so CI can read the result
 * without knowing jest's own summary format, and before it the slowest test files: where the run's time goes
 * (the run should stay well under 10 minutes on 2 cores).
 */
const path = require('node:path');

const SLOWEST = 12;

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const files = results.testResults
      .map((r) => ({ file: path.relative(process.cwd(), r.testFilePath), seconds: (r.perfStats.end - r.perfStats.start) / 1000 }))
      .filter((f) => Number.isFinite(f.seconds))
      .sort((a, b) => b.seconds - a.seconds);
    const total = files.reduce((sum, f) => sum + f.seconds, 0);
    if (files.length > 0) {
      process.stdout.write(`\nslowest test files (of ${files.length}, ${total.toFixed(0)} s in all across workers):\n`);
      for (const f of files.slice(0, SLOWEST)) process.stdout.write(`  ${f.seconds.toFixed(1).padStart(6)} s  ${f.file}\n`);
    }
    const skipped = results.numPendingTests + results.numTodoTests;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\njest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${tail}\n`);
  }
}
module.exports = SummaryReporter;
