# syntax=docker/dockerfile:1
#
# One image for every agentmesh app; the first argument picks what runs:
#
#   docker build -t agentmesh:local .
#   docker run --rm -e DATABASE_URL=... agentmesh:local migrate
#   docker run --rm -e DATABASE_URL=... -p 3000:3000 agentmesh:local chat-api
#   (also chatd-worker, aibridge-recorder, telemetry-collector, dbpurge)
#
# Stages: manifests -> deps -> build -> prod-deps -> runtime. Only `runtime` ships; it has
# dist/ and production node_modules, runs as the unprivileged `node` user (uid 1000), and
# has no compiler, dev dependency or source file. See docs/deploy.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# The package.json files alone (root + npm workspaces), so that the `npm install` layer
# below is reused until a dependency changes, whatever source file changed.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
    && find . -name node_modules -prune -o -name package.json -print \
       | xargs -I{} cp --parents {} /manifests/ \
    && cp package-lock.json .npmrc /manifests/

# Every dependency, dev included (the build needs swc). `npm install`, not `npm ci`: the
# lock file lacks entries for optional binaries of other platforms, which `npm ci` rejects.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm \
    npm install --no-audit --no-fund

# apps/, libs/ and migrations/ compiled by swc into dist/ (same paths, .js).
FROM deps AS build
COPY . .
RUN npm run build

# The same node_modules without devDependencies. Pruned in a stage of its own so that no
# layer of the runtime image ever holds the dev dependencies.
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=prod-deps /app/package.json ./package.json
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --chmod=0755 docker-entrypoint.sh ./docker-entrypoint.sh
# Files stay owned by root (read-only for the app); the process runs as `node`.
USER 1000:1000
# chat-api serves HTTP on 3000; the workers serve /healthz, /readyz, /metrics on 9101-9104.
EXPOSE 3000 9101 9102 9103 9104
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["chat-api"]
