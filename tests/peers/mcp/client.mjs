// Drives `cosmoscope mcp` with the official TypeScript MCP SDK (@modelcontextprotocol/sdk) over
// stdio: node client.mjs BINARY CALLS_JSON [server args…]. Prints one JSON object on stdout:
// {"server": {protocolVersion, serverInfo}, "tools": [...], "calls": [{isError, structured, text}]}.
// The SDK validates each structured result against the tool's output schema (callTool).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [binary, callsJson, ...serverArgs] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: binary, args: ['mcp', ...serverArgs], env: process.env, stderr: 'inherit' });
const client = new Client({ name: 'ts-agent', version: '4.2' });
await client.connect(transport);
const out = {
  server: { protocolVersion: transport._protocolVersion ?? client.getServerVersion()?.version, serverInfo: client.getServerVersion() },
  tools: (await client.listTools()).tools,
  calls: [],
};
for (const call of JSON.parse(callsJson)) {
  const r = await client.callTool({ name: call.tool, arguments: call.arguments ?? {} });
  out.calls.push({
    isError: Boolean(r.isError),
    structured: r.structuredContent ?? null,
    text: (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(''),
  });
}
await client.close();
process.stdout.write(JSON.stringify(out) + '\n');
