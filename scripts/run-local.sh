#!/usr/bin/env bash
# Runs a local 3-node cluster on embedded storage (no external services) in the
# foreground until Ctrl-C. Data, secrets, logs and cluster.json live in
# ${CHAT_LOCAL_DIR:-.local-cluster}; running it again resumes the same cluster.
# Extra arguments go to `chatctl local up` (e.g. --edges 1).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chat-node -p chat-ops
# The compatibility word list sits beside the project root when the shared folder does.
if [[ -z "${CHAT_BANNED_WORDS_FILE:-}" && -f ../shared/data/banned_words_10k.txt ]]; then
  export CHAT_BANNED_WORDS_FILE="$PWD/../shared/data/banned_words_10k.txt"
fi
exec target/release/chatctl local up --nodes 3 --data-dir "${CHAT_LOCAL_DIR:-.local-cluster}" "$@"
