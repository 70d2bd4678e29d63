#!/usr/bin/env node
// Test helper for the AAD path of server.mjs (loopback only):
//   node jwt-tool.mjs keygen OUTDIR                 -> OUTDIR/private.jwk.json, OUTDIR/jwks.json
//   node jwt-tool.mjs sign PRIVATE.jwk.json --aud A --iss I [--exp-in SECONDS] [--oid OID]
//                                                   -> prints a signed RS256 JWT
//   node jwt-tool.mjs serve-jwks JWKS.json          -> serves it on http://127.0.0.1:PORT/keys
//        (+ /.well-known/openid-configuration) and prints {"jwks_uri":…,"port":…}
import { writeFileSync, readFileSync, mkdirSync } from "node:fs";
import http from "node:http";
import crypto from "node:crypto";
import * as jose from "jose";

const [cmd, arg, ...rest] = process.argv.slice(2);
const flag = (name, dflt) => { const i = rest.indexOf(name); return i >= 0 ? rest[i + 1] : dflt; };

if (cmd === "keygen") {
  mkdirSync(arg, { recursive: true });
  const { publicKey, privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
  const kid = crypto.randomBytes(8).toString("hex");
  const priv = { ...(await jose.exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
  const pub = { ...(await jose.exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  writeFileSync(`${arg}/private.jwk.json`, JSON.stringify(priv));
  writeFileSync(`${arg}/jwks.json`, JSON.stringify({ keys: [pub] }));
} else if (cmd === "sign") {
  const jwk = JSON.parse(readFileSync(arg, "utf8"));
  const key = await jose.importJWK(jwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  const expIn = parseInt(flag("--exp-in", "3600"), 10);
  const token = await new jose.SignJWT({ oid: flag("--oid", "00000000-0000-0000-0000-0000000000aa"), tid: "test-tenant" })
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "JWT" })
    .setIssuer(flag("--iss", "http://127.0.0.1/test-issuer"))
    .setAudience(flag("--aud", "https://cosmos.azure.com"))
    .setSubject(flag("--sub", "test-user"))
    .setIssuedAt(expIn < 0 ? now + expIn - 600 : now)
    .setNotBefore(expIn < 0 ? now + expIn - 600 : now - 60)
    .setExpirationTime(now + expIn)
    .sign(key);
  process.stdout.write(token + "\n");
} else if (cmd === "serve-jwks") {
  const body = readFileSync(arg);
  const srv = http.createServer((req, res) => {
    const { port } = srv.address();
    if (req.url === "/keys") { res.writeHead(200, { "content-type": "application/json" }); return res.end(body); }
    if (req.url === "/.well-known/openid-configuration") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ issuer: `http://127.0.0.1:${port}/`, jwks_uri: `http://127.0.0.1:${port}/keys` }));
    }
    res.writeHead(404); res.end();
  });
  srv.listen(0, "127.0.0.1", () => {
    const { port } = srv.address();
    process.stdout.write(JSON.stringify({ jwks_uri: `http://127.0.0.1:${port}/keys`, port }) + "\n");
  });
  for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
} else {
  process.stderr.write("usage: jwt-tool.mjs keygen DIR | sign PRIVATE.jwk.json [--aud A] [--iss I] [--exp-in S] [--oid O] | serve-jwks JWKS.json\n");
  process.exit(2);
}
