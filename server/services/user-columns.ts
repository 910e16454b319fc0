// The users table's projections and its unique-violation mapping, shared by every service that reads or writes
// users (accounts, sessions, API tokens, registration) without importing each other.
import type { Tables } from '../../db/index.ts';
import { findUniqueViolation } from '../../db/index.ts';
import { conflict } from '../errors.ts';

/** The columns of a User, for selects and returning clauses: never the password hash. */
export const userColumns = (users: Tables['users']) => ({
  id: users.id,
  username: users.username,
  email: users.email,
  fullName: users.fullName,
  role: users.role,
  isActive: users.isActive,
  createdAt: users.createdAt,
});

export const publicUserColumns = (users: Tables['users']) => ({
  id: users.id,
  username: users.username,
  fullName: users.fullName,
  createdAt: users.createdAt,
});

/** Turns a unique violation on users into a CONFLICT naming the field; rethrows anything else. */
export function rethrowUserConflict(error: unknown): never {
  const violation = findUniqueViolation(error);
  if (violation?.table === 'users' && violation.field) throw conflict(violation.field);
  throw error;
}
