#!/usr/bin/env bash
# Runs a local 3-node cluster on embedded storage (no external services) in the
# foreground until Ctrl-C. Data, secrets, logs and cluster.json live in
# ${CHAT_LOCAL_DIR:-.local-cluster}; running it again resumes the same cluster.
# A new cluster gets fixed ports when they are free (public 5001-5003, cluster
# 7001-7003), and HAProxy in front (--lb) when haproxy is installed, on port 8080
# (statistics on 8081) when those are free; the last lines printed say which URL to
# open in a browser. Extra arguments go to `chatctl local up`
# (e.g. --edges 1).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chat-node -p chat-ops
# The banned-word filter is on by default, with the 10k-word compatibility list kept in
# the repository; set CHAT_BANNED_WORDS_FILE to use another list.
if [[ -z "${CHAT_BANNED_WORDS_FILE:-}" ]]; then
  export CHAT_BANNED_WORDS_FILE="$PWD/tests/data/banned_words_10k.txt"
fi
echo "run-local: banned-word list: $CHAT_BANNED_WORDS_FILE"

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
extra=()
if [[ " $* " != *" --base-port "* ]]; then
  free=yes
  for port in 5001 5002 5003 7001 7002 7003; do
    if in_use "$port"; then free=no; echo "run-local: port $port is taken; the nodes get free ports instead"; break; fi
  done
  [[ $free == yes ]] && extra+=(--base-port 5001)
fi
lb=no
if [[ " $* " == *" --lb "* ]]; then
  lb=yes
elif command -v haproxy >/dev/null 2>&1; then
  extra+=(--lb)
  lb=yes
else
  echo "run-local: NOTE: haproxy is not installed (Debian: apt-get install haproxy), so there is no load balancer;"
  echo "run-local:       open one node's console instead (the URL is printed below); it fails over to the others by itself"
fi
if [[ $lb == yes && " $* " != *" --lb-port "* ]]; then
  if in_use 8080 || in_use 8081; then
    echo "run-local: port 8080 or 8081 is taken; HAProxy gets the ports recorded earlier or free ones"
  else
    extra+=(--lb-port 8080)
  fi
fi
exec target/release/chatctl local up --nodes 3 --data-dir "${CHAT_LOCAL_DIR:-.local-cluster}" "${extra[@]}" "$@"
