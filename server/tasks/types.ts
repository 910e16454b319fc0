// The task types users can submit: each type's input and result schemas, so the API and SDK know both.
import { z } from 'zod';

export const TextAnalyzeInput = z.object({
  text: z.string().min(1, 'must not be empty').max(100_000, 'must be at most 100000 characters'),
});

export const TextAnalyzeResult = z.object({
  characters: z.number().int(),
  words: z.number().int(),
  sentences: z.number().int(),
  readingTimeSeconds: z.number().int(),
  /** Most frequent non-stop-words; score is the count relative to the top keyword's. */
  keywords: z.array(z.object({ term: z.string(), count: z.number().int(), score: z.number() })),
  /** score from -1 (negative) to 1 (positive). */
  sentiment: z.object({ score: z.number(), label: z.enum(['positive', 'neutral', 'negative']) }),
  /** Dates, times, e-mails, URLs, numbers, money, percentages, hashtags, mentions… as the model finds them. */
  entities: z.array(z.object({ type: z.string(), value: z.string(), count: z.number().int() })),
});

/** A trivial type: what the queue benchmark runs (and a handy smoke test). */
export const MathSumInput = z.object({
  numbers: z
    .array(z.number().finite())
    .min(1)
    .max(10_000)
    // Finite numbers can still add up past Number.MAX_VALUE: refused here, as a field error, not at run time.
    .refine((numbers) => Number.isFinite(numbers.reduce((total, n) => total + n, 0)), 'the sum of these numbers is too large (not a finite number)'),
});
export const MathSumResult = z.object({ sum: z.number(), count: z.number().int() });

export type TextAnalyzeResult = z.infer<typeof TextAnalyzeResult>;

/** Every type: its input and result. Adding a type: here, and its runner in ./runners.ts. */
export const TASK_TYPES = {
  'text.analyze': { input: TextAnalyzeInput, result: TextAnalyzeResult },
  'math.sum': { input: MathSumInput, result: MathSumResult },
} as const;

export type TaskType = keyof typeof TASK_TYPES;
export type TaskInput<T extends TaskType> = z.infer<(typeof TASK_TYPES)[T]['input']>;
export type TaskResult<T extends TaskType> = z.infer<(typeof TASK_TYPES)[T]['result']>;
export const taskTypes = Object.keys(TASK_TYPES) as TaskType[];
