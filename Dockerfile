# The `app` image: the keycloak-fcgi FastCGI responder (docker-compose.yaml builds it).
#
#   docker build -t keycloak-fcgi .
#   docker run --rm -e KEYCLOAK_SERVER_URL=... -e KEYCLOAK_REALM=... -e KEYCLOAK_CLIENT_ID=... \
#       -e KEYCLOAK_CLIENT_SECRET_FILE=/run/secrets/keycloak_client_secret keycloak-fcgi
#
# It speaks FastCGI on port 9000, never HTTP: put nginx in front (deploy/nginx/Dockerfile).

# ---- build --------------------------------------------------------------------------------
# Swift 6.3, the toolchain the project is built and tested with. Package.swift itself says
# tools 6.1, but its dependencies do not allow 6.1: swift-log >= 1.16.2 (and swift-metrics,
# swift-prometheus at the required versions) declare swift-tools-version 6.2, so a 6.1 image
# fails at dependency resolution.
FROM swift:6.3-bookworm AS build

# libfcgi, libcurl and hiredis headers + pkg-config for the CFastCGI / CCurl / CHiredis
# system-library targets.
# Unpinned on purpose (hadolint DL3008): the Debian release is pinned by the base image, and
# within it we want the current security updates, which replace the exact versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfcgi-dev libcurl4-openssl-dev libhiredis-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, in their own layer: only a change of the manifest refetches them.
# (Package.resolved is git-ignored; when a local one exists in the build context it is used,
# the wildcard makes it optional.)
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve

# Tests/ and Fuzz/Targets are needed although nothing is tested or fuzzed here: SwiftPM refuses
# a manifest whose declared targets (TestSupport, the test targets, the fuzz executable) have no
# directory. .dockerignore leaves out Tests/Integration (Python) and the fuzz corpus.
COPY Sources ./Sources
COPY Tests ./Tests
COPY Fuzz/Targets ./Fuzz/Targets

# Static Swift standard library (and FoundationEssentials; the package does not use Foundation
# or ICU): the binary needs only libfcgi, libcurl, hiredis and libc/libstdc++ at run time, not
# the Swift runtime. Debug info is stripped (47 MB -> 30.5 MB measured with Swift 6.3.1); the
# symbol table stays, so crash backtraces keep function names.
RUN swift build -c release --static-swift-stdlib --product keycloak-fcgi \
    && install -D -m 0755 \
        "$(swift build -c release --static-swift-stdlib --show-bin-path)/keycloak-fcgi" \
        /out/keycloak-fcgi \
    && strip --strip-debug /out/keycloak-fcgi

# ---- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libfcgi0ldbl, libcurl4, libhiredis0.14: the binary's shared libraries (hiredis for a
# Redis-shared revocation list, REVOCATION_STORE); ca-certificates: for an https
# Keycloak; libfcgi-bin: cgi-fcgi for the health check. libstdc++6 is already in the base
# image (apt needs it) and listed only to say the binary needs it too.
# Unpinned on purpose (hadolint DL3008): Debian security updates replace exact versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libfcgi0ldbl libcurl4 libhiredis0.14 ca-certificates libfcgi-bin libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 keycloak-fcgi \
    && useradd --system --uid 10001 --gid keycloak-fcgi --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin keycloak-fcgi

COPY --from=build /out/keycloak-fcgi /usr/local/bin/keycloak-fcgi

# All interfaces inside the container: nginx reaches it over the compose network.
ENV FCGI_LISTEN=0.0.0.0:9000
EXPOSE 9000

# The working directory stays `/`, which this user cannot write: the optional ./.env the
# responder reads at start-up cannot be planted there.
USER 10001:10001

# Liveness over FastCGI: /healthz answers 200 while the process and its workers answer
# (readiness, /readyz, is for nginx's internal listener). The address follows FCGI_LISTEN
# (0.0.0.0 becomes 127.0.0.1; unix:/path is used as a path). The first line of the CGI
# response must be `Status: 200`; a refused connection prints nothing and fails too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bin/sh", "-c", "addr=${FCGI_LISTEN:-127.0.0.1:9000}; \
case $addr in unix:*) addr=${addr#unix:} ;; 0.0.0.0:*) addr=127.0.0.1:${addr#0.0.0.0:} ;; esac; \
env REQUEST_METHOD=GET SCRIPT_NAME=/healthz SCRIPT_FILENAME=/healthz DOCUMENT_URI=/healthz \
REQUEST_URI=/healthz SERVER_PROTOCOL=HTTP/1.1 KEYCLOAK_FCGI_INTERNAL=1 \
cgi-fcgi -bind -connect \"$addr\" </dev/null | head -n 1 | grep -q '^Status: 200'"]

# The responder takes SIGTERM itself: it stops accepting, finishes requests in flight, exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/keycloak-fcgi"]
