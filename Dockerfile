# syntax=docker/dockerfile:1
#
# hirebridge: turns new-hire webhooks into onboarding in Connecteam.
#
#   docker build -t hirebridge .
#   docker run -p 8080:8080 hirebridge serve --sandbox      # whole pipeline, nothing leaves the machine
#   docker run -p 8080:8080 -v hirebridge-data:/var/lib/hirebridge \
#     -v "$PWD/hirebridge.yaml:/etc/hirebridge/hirebridge.yaml:ro" \
#     -e HIREBRIDGE_CONFIG=/etc/hirebridge/hirebridge.yaml hirebridge
#
# Configuration is the usual YAML file (HIREBRIDGE_CONFIG or --config) with every key
# overridable as HIREBRIDGE__SECTION__KEY. The embedded SQLite database lives on the
# /var/lib/hirebridge volume; for several replicas point HIREBRIDGE__DATABASE_URL at PostgreSQL.
#
# Targets:
#   runtime   (default) compiles hirebridge from source in the build stage.
#   prebuilt  packages a binary that was built outside, taken from the build context:
#               cargo build --release --locked
#               docker build --target prebuilt -t hirebridge .
#             BINARY names another file in the context (.dockerignore lets target/release/hirebridge
#             and target/container/hirebridge through). The binary must have been linked against a
#             glibc no newer than the runtime image's (Debian 12: glibc 2.36).
#
# Both base images are build arguments, so a mirror or a local stand-in can be substituted:
#   --build-arg RUST_IMAGE=registry.example.com/rust:1-bookworm
#   --build-arg RUNTIME_IMAGE=registry.example.com/distroless/cc-debian12:nonroot
# A substitute runtime image needs glibc, libgcc and CA certificates (hirebridge loads the
# system's roots at start and will not start without them); hirebridge runs in it as uid/gid
# 65532 ("nonroot" in distroless), which it need not know by name.

# checkov:skip=CKV_DOCKER_7: the FROM lines name their images through these ARGs, whose defaults carry explicit tags (1-bookworm, nonroot); checkov reads the unexpanded ${...} as untagged
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---- build -----------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src

# Keep the symbols (panic backtraces still name functions) but leave the DWARF line tables of
# `[profile.release] debug = "line-tables-only"` out of the image.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo

# Dependencies first, against a placeholder crate: this layer is reused until Cargo.toml or
# Cargo.lock change, so editing the sources only recompiles hirebridge itself.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml names the bench targets; cargo needs their files to read the manifest.
COPY benches ./benches
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real crate. The migrations are compiled into the binary (sqlx::migrate!) and so is the
# example rule table that `serve --sandbox` falls back to, so both are needed at build time.
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
# COPY keeps the files' original mtimes, which can be older than the placeholder build:
# touching the crate roots makes cargo rebuild hirebridge instead of reusing the placeholder.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/hirebridge /out/usr/local/bin/hirebridge

# ---- runtime-base: everything in the image but the binary ---------------------------------------
# distroless/cc: glibc, libgcc, CA certificates and tzdata, no shell or package manager. That is
# all hirebridge needs: SQLite is compiled in and TLS is rustls, and `hirebridge healthcheck`
# replaces curl for the container health check.
FROM ${RUNTIME_IMAGE} AS runtime-base

ENV HIREBRIDGE__DATABASE_URL=sqlite:///var/lib/hirebridge/hirebridge.db

# 65532 is distroless's "nonroot"; numeric, so that the runtime never has to resolve a name.
USER 65532:65532
# The data directory must belong to the unprivileged user, and distroless has no shell to chown
# it. WORKDIR after USER creates it owned by 65532:65532 (with BuildKit and buildah; the legacy
# builder would leave it to root).
# Relative paths in the configuration (such as the default `rules_file: rules.yaml`) resolve here.
WORKDIR /var/lib/hirebridge
VOLUME ["/var/lib/hirebridge"]

EXPOSE 8080

# Probes GET /healthz on 127.0.0.1:8080; pass another URL if `listen` is changed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/hirebridge", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/hirebridge"]
CMD ["serve"]

# ---- prebuilt: a binary from the build context ------------------------------------------------
FROM runtime-base AS prebuilt
ARG BINARY=target/release/hirebridge
# Owned by root, not writable by the service user; --chmod because artifact stores often drop
# the executable bit.
COPY --chmod=0755 ${BINARY} /usr/local/bin/hirebridge

# ---- runtime (default): the binary compiled above -----------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /out/usr/local/bin/hirebridge /usr/local/bin/hirebridge
