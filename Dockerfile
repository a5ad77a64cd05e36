# ilpd container image. Why these base images: native-notes/docker.md.
#
# Both stages are Debian 13 (trixie, glibc 2.41) with Node 24 LTS (ABI 137), so the native
# binaries npm picks in the build stage are the ones that load at run time:
# uWebSockets.js from @btc-vision/uwebsockets.js (uws_linux_x64_137.node; needs glibc >= 2.38,
# which Debian 12 lacks) and lmdb's N-API build from @lmdb/lmdb-linux-x64 (glibc >= 2.34).
# @trufflesuite/uws-js-unofficial has no Node 24 binary; ilpd skips it here. Alpine (musl)
# loads neither uWS build. This runtime (Debian 13 + Node 24, the whole test suite) is checked
# without Docker by scripts/debian13-node24-check.sh: native-notes/node24-debian13.md.

ARG NODE_IMAGE_TAG=24-trixie

# ---- build: full image, so node-gyp has python3, make and g++ if a prebuild is missing
FROM node:${NODE_IMAGE_TAG} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Optional dependencies stay included: the btc-vision uWS build and lmdb's prebuild
# (@lmdb/lmdb-linux-x64) are both optional dependencies.
RUN npm ci --no-audit --no-fund
COPY . .
# The last step fails the build here, not at start-up, if a native module does not
# load on this base, and prints which uWS build and lmdb binary were picked.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && node -e "const u=require('./dist/src/native/uws.js'); console.log(u.describeUws()); const l=require('./dist/src/native/lmdb.js'); console.log(l.describeLmdb(l.checkLmdb()))"

# ---- runtime: same Node and Debian release, without compilers
FROM node:${NODE_IMAGE_TAG}-slim AS runtime
ENV NODE_ENV=production \
    CONNECTOR_STORE_PATH=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The store is the only place the process writes; the code stays read-only to it.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
# 7768: BTP (moneyd's local port, the usual listener); 7780: admin API and /metrics.
# Listeners bind all interfaces unless wsOpts.host names one; the admin API binds
# CONNECTOR_ADMIN_API_HOST (127.0.0.1 by default): see native-notes/docker.md.
EXPOSE 7768 7780
USER node
# Node as PID 1 ignores SIGTERM without a handler; run with `docker run --init` (tini).
CMD ["node", "dist/src/cli.js"]
