// Unique names per run, so the suite can run again against the same cluster, and
// message texts that are checked against the banned-word list before they are sent
// (a test text that happened to contain a listed word would be rejected by design).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let counter = 0;

/** A name unique to this run, e.g. `alice-k3x9q-4`. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${RUN}-${counter}`;
}

/** The banned-word list the cluster was started with (CHAT_BANNED_WORDS, else the repository's tests/data copy). */
export const BANNED_WORDS_PATH =
  process.env.CHAT_BANNED_WORDS ??
  fileURLToPath(new URL('../../data/banned_words_10k.txt', import.meta.url));

export const BANNED_WORDS = readFileSync(BANNED_WORDS_PATH, 'utf8')
  .split('\n')
  .map((w) => w.trim().toLowerCase())
  .filter(Boolean);

/** The listed word contained in `text` (case-insensitive substring), if any. */
export function bannedWordIn(text) {
  const lower = text.toLowerCase();
  return BANNED_WORDS.find((w) => lower.includes(w));
}

/** A random run id that spells no listed word (it is part of every test text). */
function cleanRunId() {
  for (;;) {
    const id = Math.random().toString(36).slice(2, 8);
    if (!bannedWordIn(`t-${id}-`)) return id;
  }
}

export const RUN = cleanRunId();

/** A message text unique to this run that the filter must let through. */
export function cleanText(prefix = '메시지') {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    const text = `${prefix} ${unique('t')}`;
    if (!bannedWordIn(text)) return text; // a counter value may complete a listed word
  }
  throw new Error(`test bug: prefix ${JSON.stringify(prefix)} always yields a banned word`);
}

export function assertClean(text) {
  const hit = bannedWordIn(text);
  if (hit) throw new Error(`test bug: text ${JSON.stringify(text.slice(0, 80))} contains banned word ${hit}`);
}
