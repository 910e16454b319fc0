// What a procedure says about itself beyond its schemas: who may call it, and where REST serves it.
import type { AppErrorCode } from '../errors.ts';

/** Set by the builders in init.ts: public, any signed-in user (session or API token), a session only, admins. */
export type Access = 'public' | 'user' | 'session' | 'admin';

export type RestMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** How server/rest serves a procedure as plain JSON under /api, and how /openapi.json describes it. */
export type RestRoute = {
  method: RestMethod;
  /** Under /api; `{name}` segments are input fields (`/posts/{id}`). */
  path: `/${string}`;
  summary: string;
  description?: string;
  /** Success status: 200 unless the operation creates (201) or accepts work for later (202). */
  status?: 200 | 201 | 202;
  /** Errors the procedure's own services raise; the ones every operation can get are added for it. */
  errors?: AppErrorCode[];
  /** A public read that shows more to a signed-in caller (their own drafts, say): bearer auth is optional. */
  optionalAuth?: boolean;
  /** Honours an `Idempotency-Key` header (server/services/idempotency.ts): described in the document. */
  idempotent?: boolean;
};

export type Meta = { access?: Access; rest?: RestRoute };
