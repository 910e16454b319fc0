// How each task type runs. Runners get validated input and an abort signal, and return the typed result.
import type { Deps } from '../deps.ts';
import type { TaskInput, TaskResult, TaskType } from './types.ts';

type Runner<T extends TaskType> = (deps: Deps, input: TaskInput<T>, signal: AbortSignal) => Promise<TaskResult<T>>;

export const runners: { [T in TaskType]: Runner<T> } = {
  // CPU-bound: on the analysis thread, so the worker keeps heartbeating and the API keeps answering.
  'text.analyze': (deps, input, signal) => deps.textAnalyzer.analyze(input.text, signal),
  'math.sum': async (_deps, input) => ({ sum: input.numbers.reduce((total, n) => total + n, 0), count: input.numbers.length }),
};
