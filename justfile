# kubecorp's everyday commands (https://github.com/casey/just); each is also a plain cargo command.

# Run every test (the same command CI runs).
test:
    cargo test --workspace

# Make a lab and look at it.
lab:
    cargo run --release -- pki init
    cargo run --release -- certs check-expiration

# Formatting and lints, as CI checks them.
check:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks (see BENCHMARKS.md).
bench:
    ./benches/pki-init.sh
