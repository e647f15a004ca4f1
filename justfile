# Thin wrappers over cargo; `just --list` shows them. The README's two commands work
# without just.

# Serve on :5284 (Development: SQLite ./orchestra.db).
run *ARGS:
    cargo run --release -- {{ARGS}}

# The whole test suite (SQLite + PostgreSQL).
test *ARGS:
    ./scripts/test {{ARGS}}

# Format, lint, test: what CI runs.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# HTTP load benchmark against the release server (see bench/README.md).
bench-http:
    ./bench/http.sh

# Start / stop the test suite's PostgreSQL cluster by hand.
pg-start:
    cargo run -q -p orchestra-tests --bin pg-harness -- start

pg-stop:
    cargo run -q -p orchestra-tests --bin pg-harness -- stop

# Validate the deploy/ files that can be checked here.
check-deploy:
    promtool check config deploy/prometheus/prometheus.yml
    promtool check rules deploy/prometheus/alerts.yml
    promtool test rules deploy/prometheus/alerts_test.yml
