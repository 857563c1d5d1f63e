# elector: one image for the agent and the operator (ENTRYPOINT elector), on Debian 13 bases.
# Build stage: compile TypeScript, make the single executable, then keep only production dependencies.
FROM node:24-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The node@24 devDependency only exists to give Node 24 to machines without it; this image has it.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/executable.ts ./scripts/
# The executable (Node 24 and the bundled CLI in one file) leaves dist/ so that /app does not carry it too.
RUN npx tsc -p tsconfig.build.json && node scripts/executable.ts && mv dist/elector /elector && rm -r dist/executable \
    && npm prune --omit=dev --ignore-scripts

# Runtime: distroless Node 24, non-root, the compiled app and its production dependencies only.
FROM gcr.io/distroless/nodejs24-debian13:nonroot
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# For images without Node: an init container runs `/elector install DIR` to copy it into an emptyDir.
COPY --from=build /elector /elector
USER 65532:65532
# One entrypoint for both commands. V8's lite mode (no optimizing compilers) keeps the agent, which
# every member pod runs, under 60 MB RSS, and the operator at 1,000 Elections near 100 MB instead of
# about 140 MB, with the same lag and a little more CPU (docs/benchmarks.md): neither computes much.
ENTRYPOINT ["/nodejs/bin/node", "--lite-mode", "/app/dist/cli/main.js"]
