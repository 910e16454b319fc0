// Secrets handed to clients (session, API and reset tokens): random bytes out, only their SHA-256 stored.
import { hash } from 'node:crypto';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';

/** 20 random bytes (160 bits), lower-case base32 without padding: 32 characters. */
export function generateToken(): string {
  return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(20)));
}

/**
 * Hex SHA-256: a high-entropy token needs no slow hash, and a leaked table grants nothing. OpenSSL's one-shot
 * hash, since every authenticated request runs it (a JavaScript SHA-256 costs several times more).
 */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}
