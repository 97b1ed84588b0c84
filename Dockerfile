# simple-jwt-api `server` container image: a static musl binary on an empty (scratch) root.
#
#   docker build -t simple-jwt-api .                                  # BuildKit (Docker >= 23)
#   docker build --platform linux/arm64 -t simple-jwt-api:arm64 .     # Graviton, cross-compiled
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO:TAG --push .
#   scripts/container.sh                     # build + run it as the pod runs (docs/container.md)
#
# Cross-compiling, not emulating: the builder stage runs on the BUILD platform
# (--platform=$BUILDPLATFORM) and compiles for TARGETARCH, so an arm64 image builds on an amd64
# host at native speed (QEMU would make the build several times slower). Rust links the musl
# target with its own bundled musl (crt objects and libc.a ship with the rust-std component).
#
# What AWS-LC (aws-lc-sys, the crypto library: tokens and TLS) needs at build time: a C compiler
# and `ar` for the target, nothing more. Its cc-crate builder compiles the C and the
# pre-generated assembly with the C compiler; CMake, Go, NASM (x86 Windows only), clang and
# bindgen (bindings ship pre-generated for these targets) are not needed. The C must be compiled
# against MUSL headers: objects compiled against glibc's headers refer to glibc-only symbols and
# fail to link with rustc's musl (aws/aws-lc-rs#736). So:
# - native (amd64 on amd64, arm64 on arm64): musl-tools, whose musl-gcc wrapper (the cc crate
#   picks `<arch>-linux-musl-gcc`) runs the system gcc on musl's headers;
# - amd64 -> arm64: Debian's gcc-aarch64-linux-gnu plus the arm64 musl-dev package (multiarch),
#   which ships the same wrapper for aarch64 (`aarch64-linux-musl-gcc`: aarch64-linux-gnu-gcc on
#   /usr/include/aarch64-linux-musl); aarch64-linux-gnu-gcc drives the final link. AWS-LC's
#   builder probes for <linux/random.h>, which musl's include tree lacks, and uses the getrandom
#   syscall without it.
# All from the same apt archive, version-pinned. cargo-zigbuild + zig would also work but adds
# Python/pip or a zig download to the builder.
#
# Dependency caching: cargo-chef compiles every dependency from Cargo.toml/Cargo.lock alone in
# its own layer, so a source-only change rebuilds just this crate.
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK: the scratch image has no shell or client to run one, and Kubernetes ignores HEALTHCHECK; the probes are in k8s/base/deployment.yaml.
# checkov:skip=CKV_DOCKER_7:The base comes from ARG RUST_IMAGE, pinned by digest (checkov cannot expand the ARG; scripts/check_deploy.py checks the pin).

# The builder base, pinned by digest (the multi-platform index of the official Rust image; ECR
# Public's docker/library mirror serves the same digests as Docker Hub, without its pull limits).
# A build argument because a digest cannot name a locally made image: scripts/container.sh
# builds on a local stand-in by passing --build-arg RUST_IMAGE=<its tag>.
# To update (machine with registry access): keep the tag in step with the Rust version the
# repository is tested with, then
#   docker buildx imagetools inspect public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm
# and paste the top-level "Digest:" (the index, not a per-platform manifest) after the "@".
ARG RUST_IMAGE=public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS chef
ARG BUILDARCH
ARG TARGETARCH
# Native build (amd64 on amd64, arm64 on arm64): musl-tools gives the musl gcc wrapper for
# AWS-LC's C. amd64 -> arm64: gcc-aarch64-linux-gnu and musl-dev:arm64 (see above); the cargo
# config written here tells cargo and the cc crate (aws-lc-sys's build script) which to use.
# The slim image already has gcc, libc6-dev and ca-certificates.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN case "${BUILDARCH}/${TARGETARCH}" in \
         amd64/amd64 | arm64/arm64) \
             apt-get update \
             && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 ;; \
         amd64/arm64) \
             dpkg --add-architecture arm64 \
             && apt-get update \
             && apt-get install -y --no-install-recommends \
                 gcc-aarch64-linux-gnu=4:12.2.0-3 libc6-dev-arm64-cross=2.36-8cross1 \
                 musl-dev:arm64=1.2.3-1 \
             && mkdir -p "${CARGO_HOME}" \
             && printf '%s\n' \
                  '[target.aarch64-unknown-linux-musl]' \
                  'linker = "aarch64-linux-gnu-gcc"' \
                  '[env]' \
                  'CC_aarch64_unknown_linux_musl = "aarch64-linux-musl-gcc"' \
                  'AR_aarch64_unknown_linux_musl = "aarch64-linux-gnu-ar"' \
                  >> "${CARGO_HOME}/config.toml" ;; \
         *) echo "unsupported build/target '${BUILDARCH}/${TARGETARCH}' (build with BuildKit; amd64, arm64, or amd64 -> arm64)" >&2; exit 1 ;; \
       esac \
    && rm -rf /var/lib/apt/lists/* \
    && case "${TARGETARCH}" in \
         amd64) rust_target=x86_64-unknown-linux-musl ;; \
         arm64) rust_target=aarch64-unknown-linux-musl ;; \
       esac \
    && rustup target add "${rust_target}" \
    && echo "${rust_target}" > /rust-target \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --target "$(cat /rust-target)" --bin server --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --target "$(cat /rust-target)" --bin server \
    && install -D -m 0755 "target/$(cat /rust-target)/release/server" /out/server

# Only the binary and the CA roots: the AWS SDK reaches SSM over TLS (rustls) and reads the
# roots from /etc/ssl/certs/ca-certificates.crt; without them every SSM call fails.
FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/server /server
# 65532 = "nonroot" in distroless; k8s/base/deployment.yaml runs the pod as the same numeric user.
USER 65532:65532
# 8080: the API (PORT); 9090: the admin port (ADMIN_PORT: probes, metrics).
EXPOSE 8080 9090
ENTRYPOINT ["/server"]
