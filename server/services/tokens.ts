// Secrets handed to clients (session, API and reset tokens): random bytes out, only their SHA-256 stored.
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeBase32LowerCaseNoPadding, encodeHexLowerCase } from '@oslojs/encoding';

const encoder = new TextEncoder();

/** 20 random bytes (160 bits), lower-case base32 without padding: 32 characters. */
export function generateToken(): string {
  return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(20)));
}

/** Hex SHA-256: a high-entropy token needs no slow hash, and a leaked table grants nothing. */
export function hashToken(token: string): string {
  return encodeHexLowerCase(sha256(encoder.encode(token)));
}
