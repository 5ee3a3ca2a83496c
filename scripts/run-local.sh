#!/usr/bin/env bash
# Runs a local 3-node cluster on embedded storage (no external services) in the
# foreground until Ctrl-C. Data, secrets, logs and cluster.json live in
# ${CHAT_LOCAL_DIR:-.local-cluster}; running it again resumes the same cluster.
# Extra arguments go to `chatctl local up` (e.g. --edges 1).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chat-node -p chat-ops
# The banned-word filter is on by default, with the 10k-word compatibility list kept in
# the repository; set CHAT_BANNED_WORDS_FILE to use another list.
if [[ -z "${CHAT_BANNED_WORDS_FILE:-}" ]]; then
  export CHAT_BANNED_WORDS_FILE="$PWD/tests/data/banned_words_10k.txt"
fi
echo "run-local: banned-word list: $CHAT_BANNED_WORDS_FILE"
exec target/release/chatctl local up --nodes 3 --data-dir "${CHAT_LOCAL_DIR:-.local-cluster}" "$@"
