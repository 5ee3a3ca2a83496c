#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit, crate and whole-system tests.
# Installs and starts whatever the tests need on free loopback ports, and stops it
# afterwards. `.ci/run` calls this script; run it from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "self-contained: no references outside the repository, no dangling protocol/architecture sections"
bash scripts/check-self-contained.sh

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the binaries the whole-system tests start"
cargo build --locked -p chat-node -p chat-ops

step "install nx-27017 into .venv (the MongoDB wire-protocol server of the Mongo store tests)"
# Pinned: the store's tests know this version's gaps (architecture §7). The tests start
# and stop it themselves, on a free loopback port with a temporary data directory.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check nx-27017==0.8.1

step "install moto[server] into .venv (the EC2 emulator of the chatctl aws tests)"
# Pinned like nx-27017; ops/tests/aws_moto.rs starts and stops moto_server itself on a
# free loopback port with MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true.
.venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'

step "install redis-server (the Redis cache and shared rate-limit tests)"
# Debian's package (architecture §7). The tests start and stop their own servers on free
# loopback ports without persistence; the package's own service is not needed.
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
fi
redis-server --version

step "install haproxy (the load balancer of \`chatctl local up --lb\` and the bench test through it)"
if ! command -v haproxy >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq haproxy >/dev/null
fi
# Not `haproxy -v | head`: with pipefail, haproxy writing after head exits fails the run (SIGPIPE).
haproxy_version=$(haproxy -v)
echo "${haproxy_version%%$'\n'*}"

step "install chromium (the headless browser of the web console test)"
# Debian's package; tests/tests/web_console.rs drives it through playwright-core and, with
# CI=true, fails when it is missing instead of skipping.
if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
chromium --version
# Korean labels and emoji reactions: without these fonts the screenshots the test writes
# to docs/screens show empty boxes (the page itself is unaffected).
if ! fc-list | grep -qi nanum; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq fonts-nanum fonts-noto-color-emoji >/dev/null
fi

step "unit and crate tests"
cargo test --workspace --locked --exclude chat-tests

step "chatctl aws (feature aws: aws-sdk-ec2): clippy, and the tests against moto"
# The default build never compiles aws-sdk-ec2 (architecture §5); these two steps do, once each.
cargo clippy -p chat-ops --features aws --all-targets --locked -- -D warnings
cargo test -p chat-ops --features aws --locked

step "install the conformance suite's npm packages (socket.io-client)"
npm ci --prefix tests/conformance --no-audit --no-fund

step "install the browser test's npm package (playwright-core, no browser download)"
npm ci --prefix tests/browser --no-audit --no-fund

step "whole-system tests (real chat-node processes on loopback)"
# Each test runs a cluster of 3 to 5 processes; two at a time fit two cores.
cargo test --locked -p chat-tests -- --test-threads 2
