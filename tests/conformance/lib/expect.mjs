// Assertions shaped by the contract: our server may add fields to any payload
// (docs/protocol.md, "How to read this"), so payloads are compared on the specified fields.

import assert from 'node:assert/strict';

/** `actual` restricted to the keys of `expected` equals `expected`. */
export function assertFields(actual, expected, message) {
  assert.equal(typeof actual, 'object', `${message ?? 'payload'}: not an object: ${JSON.stringify(actual)}`);
  assert.notEqual(actual, null, `${message ?? 'payload'} is null`);
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, actual[k]]));
  assert.deepEqual(picked, expected, message);
}
