# peertube-runner-connector container image.
#   podman build --format docker --network host -t localhost/peertube-runner-connector .
#   (podman's default OCI format has no HEALTHCHECK: --format docker keeps it)
#   docker build -t peertube-runner-connector .
# Configuration: PRC_* environment variables and/or a config file mounted and named by
# PRC_CONFIG. Data (SQLite default, local storage) lives in the /data volume.

FROM docker.io/library/rust:1.95-slim-bookworm AS builder
# libpq is built from source with the crate (pq-sys `bundled`); it links OpenSSL.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, in their own layer: a source change does not rebuild them. The
# workspace member crates/socketio-actix gets an empty library here too.
COPY Cargo.toml Cargo.lock ./
COPY crates/socketio-actix/Cargo.toml crates/socketio-actix/
RUN mkdir -p src crates/socketio-actix/src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs crates/socketio-actix/src/lib.rs \
 && sed -i -e '/^\[\[bench\]\]/,/^$/d' -e '/^\[\[example\]\]/,/^$/d' Cargo.toml \
 && cargo build --release --locked --bin peertube-runner-connector \
 && rm -rf src crates/socketio-actix/src

COPY Cargo.toml ./
COPY migrations migrations
# The dashboard's assets, built into the binary with include_bytes!.
COPY assets assets
COPY crates crates
COPY src src
RUN sed -i -e '/^\[\[bench\]\]/,/^$/d' -e '/^\[\[example\]\]/,/^$/d' Cargo.toml \
 && touch src/main.rs src/lib.rs crates/socketio-actix/src/lib.rs \
 && cargo build --release --locked --bin peertube-runner-connector \
 && strip target/release/peertube-runner-connector

FROM docker.io/library/debian:bookworm-slim
# ffmpeg's Debian dependencies pull in Mesa's DRI drivers and LLVM (~165 MB) for GPU
# rendering paths that probing and thumbnailing never use; nothing links them directly
# (scripts/container-smoke.sh checks with ldd and runs ffmpeg in the image). dpkg is told
# not to unpack those files, nor documentation and translations (as debian:*-slim does
# for its own packages): the packages stay installed as far as
# apt knows, so `apt-get install` keeps working in derived images. To get the files
# back: rm /etc/dpkg/dpkg.cfg.d/connector-slim, then apt-get install --reinstall
# libgl1-mesa-dri libllvm15 libz3-4.
RUN printf '%s\n' \
      'path-exclude=/usr/lib/*/dri/*' \
      'path-exclude=/usr/lib/*/libLLVM-*' \
      'path-exclude=/usr/lib/llvm-*' \
      'path-exclude=/usr/lib/*/libz3.so*' \
      'path-exclude=/usr/share/doc/*' \
      'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' \
      'path-exclude=/usr/share/locale/*' \
      'path-exclude=/usr/share/groff/*' \
      'path-exclude=/usr/share/info/*' \
      'path-exclude=/usr/share/lintian/*' \
      > /etc/dpkg/dpkg.cfg.d/connector-slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates libssl3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
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
