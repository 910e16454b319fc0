// The Postgres schema: the same tables, columns and row types as ./sqlite.ts (checked by ./parity.ts).
import { sql } from 'drizzle-orm';
import { boolean, check, pgTable, text, timestamp as pgTimestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { ROLES, newId } from './shared.ts';

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
    createdAt: timestamp('created_at').notNull().$defaultFn(() => new Date()),
    updatedAt: timestamp('updated_at').notNull().$defaultFn(() => new Date()),
  },
  (t) => [
    uniqueIndex('users_username_unique').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_unique').on(t.email),
    check('users_role_check', sql`${t.role} in ('user', 'admin')`),
  ],
);
