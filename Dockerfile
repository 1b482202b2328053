# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root user.
#   docker build -t agora .
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so editing src/ does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --no-default-features \
    && rm -rf src
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --no-default-features --bin agora

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/agora --create-home agora
COPY --from=build /src/target/release/agora /usr/local/bin/agora
USER agora
WORKDIR /var/lib/agora
ENV AGORA_LISTEN=0.0.0.0:8080 \
    AGORA_DATA_DIR=/var/lib/agora \
    AGORA_ENV=production
EXPOSE 8080
ENTRYPOINT ["agora"]
CMD ["serve"]
