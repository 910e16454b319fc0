// CI guard: reads vitest's JSON report and fails if any test was skipped, todo or did not pass.
import { readFileSync } from 'node:fs';

type Report = {
  numTotalTests: number;
  numPassedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
};

const report = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Report;
const notPassed = report.testResults.flatMap((file) =>
  file.assertionResults.filter((test) => test.status !== 'passed').map((test) => `${test.status}: ${test.fullName} (${file.name})`),
);
console.log(`${report.numPassedTests}/${report.numTotalTests} tests passed, ${report.numPendingTests} skipped, ${report.numTodoTests} todo`);
if (notPassed.length > 0 || report.numTotalTests === 0) {
  console.error(notPassed.length > 0 ? `every test must run and pass in CI:\n${notPassed.join('\n')}` : 'no tests ran');
  process.exit(1);
}
