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

# ---- build -----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src

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
 && install -D -m 0755 target/release/hirebridge /out/usr/local/bin/hirebridge \
 && install -d -m 0750 /out/var/lib/hirebridge

# ---- runtime ---------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc, CA certificates and tzdata, no shell or package manager. That is
# all hirebridge needs: SQLite is compiled in and TLS is rustls, and `hirebridge healthcheck`
# replaces curl for the container health check.
FROM gcr.io/distroless/cc-debian12:nonroot

COPY --from=build /out/usr/local/bin/hirebridge /usr/local/bin/hirebridge
# The data directory must belong to the unprivileged user (65532, "nonroot"); distroless has no
# shell to chown it at run time, so it is copied in with its owner set.
COPY --from=build --chown=65532:65532 /out/var/lib/hirebridge /var/lib/hirebridge

ENV HIREBRIDGE__DATABASE_URL=sqlite:///var/lib/hirebridge/hirebridge.db
# Relative paths in the configuration (such as the default `rules_file: rules.yaml`) resolve here.
WORKDIR /var/lib/hirebridge
VOLUME ["/var/lib/hirebridge"]

USER nonroot
EXPOSE 8080

# Probes GET /healthz on 127.0.0.1:8080; pass another URL if `listen` is changed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/hirebridge", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/hirebridge"]
CMD ["serve"]
