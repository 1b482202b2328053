#!/usr/bin/env bash
# Runs the test suite as an ordinary user (`tester`, made if missing) on a copy of this tree, to
# show it needs no root. Run as root. The user gets its own copies of the stable toolchain and of
# ~/.cargo (with the crates already downloaded, so it builds offline); /root stays closed. The
# copy starts with an empty target/, so the first run is a cold build. Extra arguments go to
# `cargo nextest run`; environment: AGORA_TEST_PRIVATE_PG=1 passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
user=tester
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)
toolchain=$(rustup show active-toolchain | cut -d' ' -f1)
if [ ! -d "$home/.rustup/toolchains/$toolchain" ] || [ -L "$home/.rustup/toolchains/$toolchain" ]; then
  rm -f "$home/.rustup/toolchains/$toolchain"
  mkdir -p "$home/.rustup/toolchains"
  # -L: a toolchain may be a link to another (1.95.0 -> stable) inside /root, which stays closed.
  cp -aL "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$toolchain" "$home/.rustup/toolchains/"
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "default"\n' "$toolchain" \
    >"$home/.rustup/settings.toml"
fi
[ -d "$home/.cargo" ] || cp -a "${CARGO_HOME:-$HOME/.cargo}" "$home/.cargo"
mkdir -p "$home/agora"
tar --exclude=./target --exclude=./examples/web/node_modules -cf - . | tar -C "$home/agora" -xf -
chown -R "$user:" "$home"
su "$user" -c "export PATH=\$HOME/.cargo/bin:$(dirname "$(command -v cargo-nextest)"):/usr/bin:/bin \
  CARGO_NET_OFFLINE=true AGORA_TEST_PRIVATE_PG=${AGORA_TEST_PRIVATE_PG:-}; \
  cd ~/agora && cargo nextest run$(printf ' %q' "$@")"
