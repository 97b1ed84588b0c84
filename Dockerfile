# simple-jwt-api `server` container image: a static musl binary on an empty (scratch) root.
#
#   docker build -t simple-jwt-api .                                  # BuildKit (Docker >= 23)
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO:TAG --push .
#
# The builder runs on the TARGET platform (no --platform=$BUILDPLATFORM): ring compiles C with
# the target's musl-gcc, which Debian ships only natively. For arm64 (Graviton) build on an
# arm64 host (CodeBuild ARM_CONTAINER) or under QEMU with buildx.
#
# Dependency caching: cargo-chef compiles every dependency from Cargo.toml/Cargo.lock alone in
# its own layer, so a source-only change rebuilds just this crate.
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK: the scratch image has no shell or client to run one, and Kubernetes ignores HEALTHCHECK; liveness/readiness probes on GET / are in k8s/deployment.yaml.

# Official Rust image (Docker Official Images mirror on ECR Public: no Docker Hub pull limits in
# CodeBuild). Pin the digest too in a registry you control: rust:1.95.0-slim-bookworm@sha256:...
FROM public.ecr.aws/docker/library/rust:1.95.0-slim-bookworm AS chef
ARG TARGETARCH
# musl-tools: musl-gcc (and <arch>-linux-musl-gcc from musl-dev) for the C and assembly parts of
# the crypto crates (ring). The slim image already has gcc, libc6-dev and ca-certificates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
    && rm -rf /var/lib/apt/lists/* \
    && case "${TARGETARCH}" in \
         amd64) rust_target=x86_64-unknown-linux-musl ;; \
         arm64) rust_target=aarch64-unknown-linux-musl ;; \
         *) echo "unsupported TARGETARCH '${TARGETARCH}' (build with BuildKit; amd64 or arm64)" >&2; exit 1 ;; \
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
# 65532 = "nonroot" in distroless; k8s/deployment.yaml runs the pod as the same numeric user.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/server"]
