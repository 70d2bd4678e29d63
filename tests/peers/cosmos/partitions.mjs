// Effective partition keys (EPK) and physical partition key ranges for the Cosmos DB test peer.
//
// EPK = what the service hashes a partition-key value to (hash partitioning, version 2):
//   * each component is written in the service's binary encoding for hashing
//     (undefined 0x00, null 0x01, false 0x02, true 0x03, number 0x05 + float64 little-endian,
//      string 0x08 + UTF-8 bytes + 0xFF);
//   * Hash (one path): MurmurHash3 x64 128-bit, seed 0, over the bytes of all components;
//     MultiHash (hierarchical): the same hash per component, results concatenated;
//   * each 16-byte hash is written as the 128-bit value's bytes reversed (h2 big-endian, then
//     h1 big-endian), the top two bits of the first byte cleared, as uppercase hex (32 digits).
// The EPK space is ["", "FF"): every hash is below 0x40…, "FF" is the exclusive maximum.
// Written from the algorithm's public description; selftest.sh cross-checks it against the
// Python SDK's azure.cosmos.partition_key functions.

const M64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;
const rotl = (x, r) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M64;
function fmix(k) {
  k ^= k >> 33n; k = (k * 0xff51afd7ed558ccdn) & M64;
  k ^= k >> 33n; k = (k * 0xc4ceb9fe1a85ec53n) & M64;
  k ^= k >> 33n;
  return k;
}
function readLE64(b, o) {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[o + i]);
  return v;
}
// MurmurHash3_x64_128 (seed 0) → [h1, h2] as BigInt
export function murmur3x64_128(bytes) {
  const len = bytes.length;
  const nblocks = len >> 4;
  let h1 = 0n, h2 = 0n;
  for (let i = 0; i < nblocks; i++) {
    let k1 = readLE64(bytes, i * 16), k2 = readLE64(bytes, i * 16 + 8);
    k1 = (k1 * C1) & M64; k1 = rotl(k1, 31); k1 = (k1 * C2) & M64; h1 ^= k1;
    h1 = rotl(h1, 27); h1 = (h1 + h2) & M64; h1 = (h1 * 5n + 0x52dce729n) & M64;
    k2 = (k2 * C2) & M64; k2 = rotl(k2, 33); k2 = (k2 * C1) & M64; h2 ^= k2;
    h2 = rotl(h2, 31); h2 = (h2 + h1) & M64; h2 = (h2 * 5n + 0x38495ab5n) & M64;
  }
  const t = nblocks * 16, rem = len & 15;
  let k1 = 0n, k2 = 0n;
  for (let i = rem - 1; i >= 8; i--) k2 |= BigInt(bytes[t + i]) << BigInt((i - 8) * 8);
  if (rem > 8) { k2 = (k2 * C2) & M64; k2 = rotl(k2, 33); k2 = (k2 * C1) & M64; h2 ^= k2; }
  for (let i = Math.min(rem, 8) - 1; i >= 0; i--) k1 |= BigInt(bytes[t + i]) << BigInt(i * 8);
  if (rem > 0) { k1 = (k1 * C1) & M64; k1 = rotl(k1, 31); k1 = (k1 * C2) & M64; h1 ^= k1; }
  h1 ^= BigInt(len); h2 ^= BigInt(len);
  h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64;
  h1 = fmix(h1); h2 = fmix(h2);
  h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64;
  return [h1, h2];
}

// binary encoding of one partition-key component for hashing (version 2)
function encodeComponent(v, out) {
  if (v === undefined) out.push(0x00);
  else if (v === null) out.push(0x01);
  else if (v === false) out.push(0x02);
  else if (v === true) out.push(0x03);
  else if (typeof v === "number") {
    out.push(0x05);
    const b = Buffer.alloc(8); b.writeDoubleLE(v, 0);
    for (const x of b) out.push(x);
  } else if (typeof v === "string") {
    out.push(0x08);
    for (const x of Buffer.from(v, "utf8")) out.push(x);
    out.push(0xff);
  } else if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0) out.push(0x00); // {} = "none"
  else throw new Error("a partition key value must be a string, number, boolean, null or undefined");
}
function hashHex(bytes) {
  const [h1, h2] = murmur3x64_128(bytes);
  const hi = h2 & 0x3fffffffffffffffn; // first byte of the reversed bytes = top byte of h2
  return (hi.toString(16).padStart(16, "0") + h1.toString(16).padStart(16, "0")).toUpperCase();
}
// components: array of values (undefined = absent). kind: "Hash" | "MultiHash".
export function effectivePartitionKey(components, kind = "Hash") {
  if (!components.length) return "";
  if (kind === "MultiHash") return components.map((c) => { const o = []; encodeComponent(c, o); return hashHex(o); }).join("");
  const out = [];
  for (const c of components) encodeComponent(c, out);
  return hashHex(out);
}
// EPK range covered by a (possibly prefix) partition-key value: [min, max) or a point.
export function epkRangeForValue(components, kind, nPaths) {
  const epk = effectivePartitionKey(components, kind);
  if (kind === "MultiHash" && components.length < nPaths) return { min: epk, max: epk + "FF", isMinInclusive: true, isMaxInclusive: false };
  return { min: epk, max: epk, isMinInclusive: true, isMaxInclusive: true };
}

// ------------------------------------------------------------------ physical ranges
// N ranges over ["", "FF"). Boundaries: floor(k · (2^126 − 1) / N) as 32 uppercase hex digits,
// i.e. an even split of the hash space [0, 0x3FFF…F] (hashes have the top two bits cleared).
// For N = 2 this gives "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", the boundary a 2-partition
// container shows on the service (the only boundary value we found published); other N are
// the same even split, not observed values.
const SPACE_MAX = (1n << 126n) - 1n;
export function rangeBoundaries(n) {
  const b = [""];
  for (let k = 1; k < n; k++) b.push(((SPACE_MAX * BigInt(k)) / BigInt(n)).toString(16).toUpperCase().padStart(32, "0"));
  b.push("FF");
  return b;
}
export function physicalRanges(n) {
  const b = rangeBoundaries(n);
  const out = [];
  for (let i = 0; i < n; i++) out.push({ id: String(i), minInclusive: b[i], maxExclusive: b[i + 1] });
  return out;
}
// EPK comparison: plain string order works for uppercase hex ("" lowest, "FF" above every hash)
export const epkLess = (a, b) => a < b;
export function epkInRange(epk, min, max) { return epk >= min && epk < max; }

// CLI (used by the self test): `node partitions.mjs epk < cases.json` with cases
// [{"kind": "Hash"|"MultiHash", "paths": [...], "value": [components]}] ({} = absent) →
// one JSON array of [min, max] EPK ranges, in the cases' order.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href && process.argv[2] === "epk") {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = cases.map((c) => {
    const vals = c.value.map((v) => (v && typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length ? undefined : v));
    const r = epkRangeForValue(vals, c.kind, c.paths.length);
    return [r.min, r.max];
  });
  process.stdout.write(JSON.stringify(out) + "\n");
}
