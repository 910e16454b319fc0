// The Postgres schema: the same tables, columns and row types as ./sqlite.ts (checked by ./parity.ts).
import { sql } from 'drizzle-orm';
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp as pgTimestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { searchKey } from './search-key.ts';
import { ROLES, TASK_STATUSES, newId } from './shared.ts';

const timestamp = (name: string) => pgTimestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    username: text('username').notNull(),
    email: text('email').notNull(),
    fullName: text('full_name'),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ROLES }).notNull().default('user'),
    isActive: boolean('is_active').notNull().default(true),
    /** Set once the welcome e-mail went out, so a retried job does not send it twice. */
    welcomeEmailSentAt: timestamp('welcome_email_sent_at'),
    /**
     * The job attempt (`jobId:retryCount`) sending the welcome e-mail, set before it sends: an overlapping
     * attempt cannot start a second send while this claim is younger than the job's expiry.
     */
    welcomeEmailClaim: text('welcome_email_claim'),
    welcomeEmailClaimedAt: timestamp('welcome_email_claimed_at'),
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    updatedAt: timestamp('updated_at').notNull().$defaultFn(() => new Date()),
    /**
     * What usernames are compared by (login, uniqueness, admin search): the username with A–Z folded to a–z and
     * nothing else (collation "C" makes lower() ASCII-only), whatever the database's locale: `lower()` under a
     * Turkish ICU locale folds I to ı, so IVAN_t and ivan_t were two accounts. usernameKey() in ./shared.ts is
     * the same function for lookups. Kept by the database, so every row has it, old ones included.
     */
    usernameKey: text('username_key').generatedAlwaysAs(sql`lower(username collate "C")`),
  },
  (t) => [
    uniqueIndex('users_username_unique').on(t.usernameKey),
    uniqueIndex('users_email_unique').on(t.email),
    // users.list pages newest first by (created_at, id) keyset.
    index('users_created_idx').on(t.createdAt, t.id),
    // users.list `q` (a substring of the username, e-mail or name): trigram indexes (pg_trgm, migration 0012).
    index('users_username_key_trgm_idx').using('gin', sql`${t.usernameKey} gin_trgm_ops`),
    index('users_email_trgm_idx').using('gin', sql`${t.email} gin_trgm_ops`),
    index('users_full_name_trgm_idx').using('gin', sql`${t.fullName} gin_trgm_ops`),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
  ],
);

/** Lucia-style sessions: the primary key is the SHA-256 of the token; the token itself is never stored. */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    /** What clients see and revoke a session by: never the token's hash. */
    publicId: text('public_id').notNull().$defaultFn(newId),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at').notNull(),
    lastUsedAt: timestamp('last_used_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    absoluteExpiresAt: timestamp('absolute_expires_at').notNull(),
    userAgent: text('user_agent'),
    ip: text('ip'),
  },
  (t) => [
    uniqueIndex('sessions_public_id_unique').on(t.publicId),
    index('sessions_user_id_idx').on(t.userId),
    index('sessions_expires_at_idx').on(t.expiresAt),
  ],
);

/** Long-lived bearer tokens for programs; stored as a SHA-256 hash with a short visible prefix. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull(),
    prefix: text('prefix').notNull(),
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    lastUsedAt: timestamp('last_used_at'),
    expiresAt: timestamp('expires_at'),
  },
  (t) => [uniqueIndex('api_tokens_token_hash_unique').on(t.tokenHash), index('api_tokens_user_id_idx').on(t.userId)],
);

export const posts = pgTable(
  'posts',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    authorId: text('author_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    body: text('body').notNull(),
    published: boolean('published').notNull().default(false),
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    updatedAt: timestamp('updated_at').notNull().$defaultFn(() => new Date()),
    /**
     * lower(title SOH body), kept by the database, for `q` search: matching it with LIKE skips lower-casing
     * every candidate body on each search. SOH (\x01) keeps a match from spanning title and body.
     */
    search: text('search').generatedAlwaysAs(sql`lower(title || chr(1) || body)`),
  },
  (t) => [
    index('posts_author_created_idx').on(t.authorId, t.createdAt, t.id),
    index('posts_published_created_idx').on(t.published, t.createdAt, t.id),
    // Admins' and signed-in readers' pages (published or their own): newest first without sorting the table.
    index('posts_created_idx').on(t.createdAt, t.id),
    // A trigram index keeps `LIKE '%q%'` fast on large tables (pg_trgm, migration 0002), over `search` without its
    // spaces (searchKey) so that trigrams join the words of a query too (migration 0011).
    index('posts_search_trgm_idx').using('gin', sql`${searchKey(t.search)} gin_trgm_ops`),
  ],
);

/** Single-use password reset tokens: only the SHA-256 is stored; valid for an hour. */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    /** The job attempt that made it: one token (and one mail) per attempt; a retry adds one, never replaces. */
    jobId: text('job_id').notNull(),
    attempt: integer('attempt').notNull().default(0),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    emailSentAt: timestamp('email_sent_at'),
    usedAt: timestamp('used_at'),
  },
  (t) => [
    uniqueIndex('password_reset_tokens_token_hash_unique').on(t.tokenHash),
    uniqueIndex('password_reset_tokens_job_attempt_unique').on(t.jobId, t.attempt),
    index('password_reset_tokens_user_id_idx').on(t.userId),
    index('password_reset_tokens_expires_at_idx').on(t.expiresAt),
  ],
);

/** Users' background tasks (tasks.submit): the row is the status users poll; a pg-boss job does the work. */
export const tasks = pgTable(
  'tasks',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    input: jsonb('input').$type<unknown>().notNull(),
    status: text('status', { enum: TASK_STATUSES }).notNull().default('queued'),
    result: jsonb('result').$type<unknown>(),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    /** The job attempt that claimed the task: a duplicate job cannot run it twice. */
    jobId: text('job_id'),
    /** That attempt's retry count: every write after the claim is conditional on (jobId, attempt). */
    attempt: integer('attempt'),
    createdAt: timestamp('created_at').notNull(),
    startedAt: timestamp('started_at'),
    finishedAt: timestamp('finished_at'),
  },
  (t) => [
    index('tasks_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('tasks_status_created_idx').on(t.status, t.createdAt, t.id),
    // Admins' unfiltered tasks.list: newest first without sorting the table.
    index('tasks_created_idx').on(t.createdAt, t.id),
    index('tasks_finished_at_idx').on(t.finishedAt),
    check('tasks_status_check', sql`${t.status} in ('queued', 'running', 'completed', 'failed', 'cancelled')`),
  ],
);

/**
 * The transactional outbox: jobs written in the app transaction that makes their rows, when the jobs live in
 * another database (the embedded default, QUEUE_DATABASE_URL). A relay moves each row into pg-boss, as the
 * job whose id is the row's id, then deletes it.
 */
export const outbox = pgTable(
  'outbox',
  {
    /** Also the pg-boss job's id: sending a row twice makes one job. */
    id: text('id').primaryKey(),
    /** The pg-boss queue (a job definition's name). */
    queue: text('queue').notNull(),
    data: jsonb('data').$type<unknown>().notNull(),
    createdAt: timestamp('created_at').notNull(),
  },
  (t) => [index('outbox_created_at_idx').on(t.createdAt)],
);

/**
 * Idempotency keys of mutations that honour one (tasks.submit, posts.create), per user and procedure: the
 * request's hash, and once it has succeeded its response (superjson text), replayed for a repeat of the request
 * until the key expires (server/services/idempotency.ts). A row without a response is a request in progress.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    procedure: text('procedure').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    response: text('response'),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
  },
  (t) => [uniqueIndex('idempotency_keys_user_procedure_key_unique').on(t.userId, t.procedure, t.key), index('idempotency_keys_expires_at_idx').on(t.expiresAt)],
);
