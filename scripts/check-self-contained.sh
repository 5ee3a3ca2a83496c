#!/usr/bin/env bash
# Checks that the repository runs, tests and explains itself without anything beside it:
#   1. no tracked file refers to the folder that used to sit next to the repository
#      (a relative path up and into "shared", or its "data" subfolder);
#   2. every "protocol §X" / "architecture §X" reference (any case, with or without §,
#      including lists such as "protocol §3.4, §3.6 and §5") names a section that exists
#      as a numbered heading of docs/protocol.md / docs/architecture.md.
# Prints file:line for every offence and exits 1 if there is any. Run it from anywhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cd "$(git rev-parse --show-toplevel)"
# Byte-wise matching: "§" is the two bytes C2 A7, which the patterns below group.
export LC_ALL=C

failed=0

# Tracked files, without the word list itself and the benchmark plots.
mapfile -d '' files < <(git ls-files -z -- . \
    ':(exclude)tests/data/banned_words_10k.txt' ':(exclude)docs/bench/*.svg')

# 1. References to files outside the repository. The pattern is written so that this
#    script does not match itself.
outside='\.\./shared|shared[/]data'
hits=$(printf '%s\0' "${files[@]}" | xargs -0 grep -nsIE -- "$outside" || true)
if [[ -n "$hits" ]]; then
    printf '%s\n' "$hits" | sed 's/$/   <- refers to a folder outside the repository/'
    failed=1
fi

# 2. Section references.
declare -A sections
for doc in protocol architecture; do
    file="docs/$doc.md"
    if [[ ! -f "$file" ]]; then
        echo "$file: missing (section references cannot be checked)"
        failed=1
        continue
    fi
    # Headings start with their number: "## 6. Socket.IO contract", "#### 6.5.5 markMessagesAsRead".
    while read -r number; do
        sections["$doc §$number"]=1
    done < <(sed -nE 's/^#{1,6} +([0-9]+(\.[0-9]+)*)\.?( .*)?$/\1/p' "$file")
done

num='[0-9]+(\.[0-9]+)*'
ref="\\b(protocol|architecture)(\\.md)?[[:space:]]+(§)?[[:space:]]*$num(([[:space:]]*(,|/|and|or)([[:space:]]+(and|or))?[[:space:]]*§[[:space:]]*$num)*)"
checked=0
dangling=0
while IFS=: read -r file line match; do
    lower=${match,,}
    doc=${lower%%[!a-z]*}
    while read -r number; do
        checked=$((checked + 1))
        if [[ -z "${sections["$doc §$number"]+x}" ]]; then
            echo "$file:$line: \"$match\": $doc §$number is not a heading of docs/$doc.md"
            dangling=$((dangling + 1))
        fi
    done < <(grep -oE "$num" <<<"${lower#"$doc"}")
done < <(printf '%s\0' "${files[@]}" | xargs -0 grep -nosIiE -- "$ref" || true)
[[ $dangling -eq 0 ]] || failed=1

echo "self-contained: $checked section references checked, $dangling dangling"
exit "$failed"
