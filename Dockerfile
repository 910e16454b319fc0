# One image for every process of ai-backend-service (Node 24 runs the TypeScript sources directly):
#   API (default):   node --import ./server/preload.mjs server/main.ts
#   worker:          node --import ./server/preload.mjs jobs/worker.ts
#   migrations:      node --import ./server/preload.mjs scripts/db-migrate.ts
# Build: docker build -t ai-backend-service .
# Debian (glibc), not Alpine: better-sqlite3 and @node-rs/argon2 load native binaries built for glibc.
# Plain Dockerfile syntax (no BuildKit-only flags), so the classic builder and Cloud Build work too.
# Production builds pin the base image by digest (the deploy guides show how): replace the tag below with
# node:24-bookworm-slim@sha256:<digest>, the digest that `docker buildx imagetools inspect node:24-bookworm-slim`
# prints, commit it, and let a dependency bot propose the next one. A tag alone can change under you.

# ---- base: the Node runtime every stage starts from
FROM node:24-bookworm-slim AS base
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# ---- toolchain: what node-gyp needs if a native package has no prebuilt binary for this platform
FROM base AS toolchain
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# Only the manifests: the dependency layers stay cached until package.json or the lock file changes.
# npm ci runs only the install scripts that package.json's "allowScripts" approves.
COPY package.json package-lock.json ./

# ---- build: every dependency, dev tools included, installed inside the image (never copied in), with the
# build context on top. The runtime image takes only the admin console's bundle from here (the TypeScript
# sources run as they are). It is not a
# CI image: .dockerignore keeps the tests (*.test.ts, server/testing), docs, the Dockerfile, compose.yaml and .ci
# out of the context, so `npm test` and `npm run lint` cannot run in it; run those from a checkout. It shows
# that `npm ci` with dev dependencies works on this base: docker build --target build .
FROM toolchain AS build
RUN npm ci
COPY . .
# The admin console's bundle (esbuild, a dev dependency): the runtime image ships it built and has no esbuild.
RUN node server/console/build.ts

# ---- prod-deps: production dependencies only, the node_modules the runtime image gets
FROM toolchain AS prod-deps
RUN npm ci --omit=dev

# ---- runtime
FROM base AS runtime
# tini as PID 1 forwards SIGTERM to node and reaps zombies. TINI_SUBREAPER keeps it quiet and reaping
# when it is not PID 1 (docker run --init, compose init: true).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
# What npm start and npm run worker pass too: --expose-gc lets the API run one memory-reducing collection when
# a busy spell ends (server/runtime/idle-gc.ts), which V8 does not do by itself for a process that goes quiet;
# --v8-pool-size=1 keeps one V8 background thread, not four, each holding a malloc arena (server/runtime/node-args.ts).
ENV NODE_ENV=production \
    NODE_OPTIONS="--expose-gc --v8-pool-size=1" \
    HOST=0.0.0.0 \
    PORT=3000 \
    TINI_SUBREAPER=1
# The embedded default (no DATABASE_URL) keeps SQLite, the PGlite job queue and the mail outbox in ./data:
# the only directory the node user may write. Mount a volume there to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
COPY --from=prod-deps /app/node_modules ./node_modules
# Only the sources the processes run, owned by root and read-only to node (client-sdk/ and the rest of the
# build context stay behind, so `npm run stats`, which imports the SDK, runs from a checkout, not from here).
# The embedded default (no DATABASE_URL) runs its job queue on PGlite: @electric-sql/pglite is a production
# dependency for that reason.
COPY package.json ./
COPY db ./db
COPY jobs ./jobs
COPY server ./server
COPY scripts ./scripts
COPY --from=build /app/build/console ./build/console
USER node
EXPOSE 3000
# The worker's probe answers on WORKER_PORT: run it with HEALTHCHECK_PORT=3001 (see scripts/healthcheck.ts).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.ts"]
ENTRYPOINT ["tini", "--"]
CMD ["node", "--expose-gc", "--v8-pool-size=1", "--import", "./server/preload.mjs", "server/main.ts"]
