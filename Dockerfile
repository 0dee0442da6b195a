# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run the compiled JS with production ones only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# As npm start: glibc gives freed memory back (docs/benchmarks.md, "Embedded footprint").
ENV NODE_ENV=production DATA_DIR=/data PORT=3000 \
    MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# serve (default): API + aggregator; `api` or `worker` for the production topology, which
# docker-compose.yml starts with NODE_OPTIONS=--max-semi-space-size=16 (README, Performance).
ENV NODE_OPTIONS=--max-semi-space-size=4
ENTRYPOINT ["node", "dist/main/cli.js"]
CMD ["serve"]
