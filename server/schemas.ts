// zod schemas shared by routers (and their types by services): one definition per concept.
import { z } from 'zod';
import { ROLES } from '../db/index.ts';
import { JOB_STATES } from '../jobs/operations.ts';

/** Ids are opaque strings to clients; a malformed one is simply not found. */
export const Id = z.string().min(1).max(100);

export const Username = z
  .string()
  .min(3, 'must be at least 3 characters')
  .max(32, 'must be at most 32 characters')
  .regex(/^[A-Za-z0-9_]+$/, 'may contain only letters, digits and _');

export const Email = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be a valid e-mail address'))
  .transform((email) => email.toLowerCase())
  // What documents (OpenAPI) show of it: the check itself sits behind the trim, where converters do not look.
  .meta({ format: 'email', description: 'Compared and stored in lower case.' });

/** Length only (NIST 800-63B): no composition rules. Checked before any hashing, so huge inputs cost nothing. */
export const Password = z.string().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters');

export const FullName = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

export const Role = z.enum(ROLES);

/**
 * Paging for newest-first lists; each list chooses its default page size. `cursor` (a page's `nextCursor`)
 * continues after that page's last row however many rows were written since; `skip` skips rows after it (or
 * from the start), and is bounded because skipped rows are still read.
 */
export const pagination = (defaultLimit: number) =>
  z.object({
    skip: z.number().int().min(0).max(10_000).default(0),
    limit: z.number().int().min(1).max(100).default(defaultLimit),
    cursor: z.string().min(1).max(200).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
  });

/** What anyone may see of a user. */
export const PublicUser = z.object({
  id: z.string(),
  username: z.string(),
  fullName: z.string().nullable(),
  createdAt: z.date(),
});

/** What users see of themselves, and admins of everyone. */
export const User = PublicUser.extend({
  email: z.string(),
  role: Role,
  isActive: z.boolean(),
});

export const Ok = z.object({ ok: z.literal(true) });

/**
 * A page of a list. `total` counts matching rows up to 1000: past that it is 1000 and `totalIsLowerBound` is true
 * (a list never counts a whole table). `nextCursor` is null on the last page.
 */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    total: z.number().int().nonnegative(),
    totalIsLowerBound: z.boolean(),
    nextCursor: z.string().nullable(),
  });

export type PublicUser = z.infer<typeof PublicUser>;
export type User = z.infer<typeof User>;
export type Role = z.infer<typeof Role>;

export const PostTitle = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
export const PostBody = z.string().max(50_000, 'must be at most 50000 characters');

export const Author = z.object({ id: z.string(), username: z.string() });

/** A post in lists: everything but the body, which lists never read. */
export const PostSummary = z.object({
  id: z.string(),
  title: z.string(),
  published: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
  author: Author,
});

export const Post = PostSummary.extend({ body: z.string() });

/** A public profile with its latest published posts. */
export const UserWithPosts = PublicUser.extend({ posts: z.array(PostSummary.omit({ author: true })) });

export type Post = z.infer<typeof Post>;
export type PostSummary = z.infer<typeof PostSummary>;
export type UserWithPosts = z.infer<typeof UserWithPosts>;

/** pg-boss's job states. */
export const JobState = z.enum(JOB_STATES);

/** A job of a queue, as operators see it: payload and output with secrets redacted as in logs. */
export const Job = z.object({
  id: z.string(),
  queue: z.string(),
  state: JobState,
  data: z.unknown().meta({ description: 'The payload, with secret-named fields (password, token, secret, API key…) redacted.' }),
  output: z.unknown().meta({ description: 'What the last attempt left (for a failure, `{ message }`), redacted likewise; null when none.' }),
  /** The message of the last failure: this job's, or for a job in a dead-letter queue, the one it failed with. */
  lastError: z.string().nullable(),
  retryCount: z.number().int().nonnegative(),
  retryLimit: z.number().int().nonnegative(),
  createdOn: z.date(),
  startAfter: z.date(),
  startedOn: z.date().nullable(),
  completedOn: z.date().nullable(),
  singletonKey: z.string().nullable(),
  /** For a job in a dead-letter queue: the queue and job it failed as, after how many retries. */
  source: z.object({ queue: z.string(), id: z.string().nullable(), retryCount: z.number().int().nullable() }).nullable(),
});

/** pg-boss's own counts of a queue, cached by its monitor (exact counts: admin.stats). */
export const QueueInfo = z.object({
  name: z.string(),
  deadLetter: z.string().nullable(),
  queued: z.number().int().nonnegative(),
  ready: z.number().int().nonnegative(),
  deferred: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
});

export type Job = z.infer<typeof Job>;
export type QueueInfo = z.infer<typeof QueueInfo>;
