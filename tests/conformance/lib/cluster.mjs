// The nodes under test, as handed over by the Rust runner (tests/tests/conformance.rs):
// CHAT_NODES = [{"id":1,"public":"http://127.0.0.1:PORT"}, ...], CHAT_EDGE_ID = the edge's id.
// Tests spread users over different nodes on purpose, so every cross-node path
// (fan-out, replicated sessions and rooms) is exercised, the edge included.

const raw = process.env.CHAT_NODES;
if (!raw) {
  throw new Error(
    'CHAT_NODES is not set. Run the suite through `cargo test -p chat-tests --test conformance`, ' +
      'or point it at a running cluster: CHAT_NODES=\'[{"id":1,"public":"http://127.0.0.1:5001"}]\'',
  );
}

/** Every node: `{ id, url }`, in the order given. */
export const NODES = JSON.parse(raw).map((n) => ({ id: Number(n.id), url: String(n.public).replace(/\/+$/, '') }));
if (NODES.length === 0) throw new Error('CHAT_NODES is empty');

const edgeId = process.env.CHAT_EDGE_ID ? Number(process.env.CHAT_EDGE_ID) : undefined;

/** The edge (a Raft learner); the last node when no edge was named. */
export const EDGE = NODES.find((n) => n.id === edgeId) ?? NODES[NODES.length - 1];

/** The voters, in order. */
export const VOTERS = NODES.filter((n) => n !== EDGE);

/** Node `i` of a spread that puts consecutive users on different nodes, edge included. */
export function nodeAt(i) {
  return NODES[i % NODES.length];
}

/** `[first voter, second voter, edge]`: the usual placement of a test's three users. */
export function spread3() {
  return [VOTERS[0] ?? EDGE, VOTERS[1] ?? VOTERS[0] ?? EDGE, EDGE];
}

export function label(node) {
  return `node ${node.id}${node === EDGE ? ' (edge)' : ''}`;
}
