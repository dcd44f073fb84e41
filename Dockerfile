# peertube-runner-connector container image.
#   podman build --network host -t localhost/peertube-runner-connector .
#   docker build -t peertube-runner-connector .
# Configuration: PRC_* environment variables and/or a config file mounted and named by
# PRC_CONFIG. Data (SQLite default, local storage) lives in the /data volume.

FROM docker.io/library/rust:1.95-slim-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, in their own layer: a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && sed -i -e '/^\[\[bench\]\]/,/^$/d' -e '/^\[\[example\]\]/,/^$/d' Cargo.toml \
 && cargo build --release --locked --bin peertube-runner-connector \
 && rm -rf src

COPY Cargo.toml ./
COPY migrations migrations
COPY src src
RUN sed -i -e '/^\[\[bench\]\]/,/^$/d' -e '/^\[\[example\]\]/,/^$/d' Cargo.toml \
 && touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin peertube-runner-connector \
 && strip target/release/peertube-runner-connector

FROM docker.io/library/debian:bookworm-slim
# ffmpeg's Debian dependencies pull in Mesa's DRI drivers and LLVM (~165 MB) for GPU
# rendering paths that probing and thumbnailing never use; nothing links them directly,
# so they are removed (scripts/container-smoke.sh runs ffmpeg in the image to prove it).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates libpq5 \
 && dpkg --purge --force-depends libgl1-mesa-dri libllvm15 libz3-4 \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home connector \
 && mkdir -p /data \
 && chown connector:connector /data
COPY --from=builder /src/target/release/peertube-runner-connector /usr/local/bin/peertube-runner-connector
ENV PRC_DATA_DIR=/data \
    PRC_SERVER__BIND=0.0.0.0:8000 \
    PRC_LOG__FORMAT=json
VOLUME ["/data"]
WORKDIR /data
USER connector
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["peertube-runner-connector", "healthcheck"]
ENTRYPOINT ["peertube-runner-connector"]
CMD ["serve"]
