#!/usr/bin/env node
// A loopback Entra-style token endpoint for cosmoscope's broker-identity tests (client-secret):
//   node token-endpoint.mjs --cert server.pem --key server-key.pem --jwk private.jwk.json \
//        --client-id ID --client-secret SECRET [--iss ISSUER]
// POST /<tenant>/oauth2/v2.0/token (client_credentials, form body) answers
// {"token_type":"Bearer","expires_in":3600,"access_token":<RS256 JWT, aud = scope without /.default>}
// when client_id/client_secret match, 401 {"error":"invalid_client"} otherwise.
// Prints {"authority_host":"https://127.0.0.1:PORT","port":PORT} once listening. HTTPS only:
// azure_identity refuses a non-https authority host.
import https from "node:https";
import { readFileSync } from "node:fs";
import * as jose from "jose";

const args = process.argv.slice(2);
const flag = (n, d) => { const i = args.indexOf(n); return i >= 0 ? args[i + 1] : d; };
const jwk = JSON.parse(readFileSync(flag("--jwk"), "utf8"));
const key = await jose.importJWK(jwk, "RS256");
const clientId = flag("--client-id");
const clientSecret = flag("--client-secret");
const issuer = flag("--iss", "http://127.0.0.1/test-issuer");
let requests = 0;

const srv = https.createServer({ cert: readFileSync(flag("--cert")), key: readFileSync(flag("--key")) }, async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const send = (status, obj) => { res.writeHead(status, { "content-type": "application/json" }); res.end(JSON.stringify(obj)); };
  if (req.url === "/__stats") return send(200, { requests });
  if (req.method !== "POST" || !/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(req.url)) return send(404, { error: "not_found" });
  requests++;
  const form = new URLSearchParams(Buffer.concat(chunks).toString());
  if (form.get("grant_type") !== "client_credentials" || form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret)
    return send(401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided." });
  const aud = (form.get("scope") || "").replace(/\/\.default$/, "");
  const now = Math.floor(Date.now() / 1000);
  const token = await new jose.SignJWT({ oid: "00000000-0000-0000-0000-0000000000bb", tid: req.url.split("/")[1], appid: clientId })
    .setProtectedHeader({ alg: "RS256", kid: jwk.kid, typ: "JWT" })
    .setIssuer(issuer).setAudience(aud).setSubject(clientId)
    .setIssuedAt(now).setNotBefore(now - 60).setExpirationTime(now + 3600)
    .sign(key);
  send(200, { token_type: "Bearer", expires_in: 3600, ext_expires_in: 3600, access_token: token });
});
srv.listen(0, "127.0.0.1", () => {
  const { port } = srv.address();
  process.stdout.write(JSON.stringify({ authority_host: `https://127.0.0.1:${port}`, port }) + "\n");
});
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => process.exit(0));
