// The SQLite schema: the same tables, columns and row types as ./pg.ts (checked by ./parity.ts).
import { sql } from 'drizzle-orm';
import { check, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { ROLES, newId } from './shared.ts';

const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' });

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    username: text('username').notNull(),
    email: text('email').notNull(),
    fullName: text('full_name'),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ROLES }).notNull().default('user'),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    updatedAt: timestamp('updated_at').notNull().$defaultFn(() => new Date()),
  },
  (t) => [
    uniqueIndex('users_username_unique').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_unique').on(t.email),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
  ],
);

/** Lucia-style sessions: the primary key is the SHA-256 of the token; the token itself is never stored. */
export const sessions = sqliteTable(
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
export const apiTokens = sqliteTable(
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

export const posts = sqliteTable(
  'posts',
  {
    id: text('id').primaryKey().$defaultFn(newId),
    authorId: text('author_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    body: text('body').notNull(),
    published: integer('published', { mode: 'boolean' }).notNull().default(false),
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    updatedAt: timestamp('updated_at').notNull().$defaultFn(() => new Date()),
    /** lower(title SOH body) for `q` search, as in pg.ts. */
    search: text('search').generatedAlwaysAs(sql`lower(title || char(1) || body)`, { mode: 'stored' }),
  },
  // `q` search scans `search` with instr(): FTS5 would match tokens, not the substrings Postgres matches.
  (t) => [index('posts_author_created_idx').on(t.authorId, t.createdAt), index('posts_published_created_idx').on(t.published, t.createdAt)],
);
