// Unleash's proxy SDK (unleash-proxy-client, the browser/mobile SDK of
// Unleash's frontend API) pointed at a gateway's /api/frontend: for each
// context of a file it updates the SDK's context (the SDK fetches the
// toggles again, by GET or with usePOSTrequests by POST) and prints what
// the SDK then answers.
//
//   node web/tests/unleash-frontend.mjs URL CONTEXTS.json get|post
//
// URL is http://gateway/api/frontend, the key $UNLEASH_KEY; CONTEXTS is a
// JSON array of {userId, sessionId, properties}. The output is one line: a
// JSON array with, per context, "name=variant;" for every toggle the SDK
// calls enabled (isEnabled), in the order it got them.
// tests/gateway/test_unleash.c compares this with OFREP's answers.
import { readFileSync } from 'node:fs';
import { UnleashClient, InMemoryStorageProvider } from 'unleash-proxy-client';

const [url, file, mode] = process.argv.slice(2);
if (!url || !file || !['get', 'post'].includes(mode)) {
  console.error('usage: node unleash-frontend.mjs URL CONTEXTS.json get|post');
  process.exit(2);
}
const contexts = JSON.parse(readFileSync(file, 'utf8'));
const client = new UnleashClient({
  url,
  clientKey: process.env.UNLEASH_KEY ?? '',
  appName: 'vexil-frontend-test',
  disableRefresh: true,
  disableMetrics: true,
  usePOSTrequests: mode === 'post',
  storageProvider: new InMemoryStorageProvider(),
});
const errors = [];
client.on('error', (e) => errors.push(String(e?.message ?? JSON.stringify(e))));
await client.start();

const out = [];
for (const ctx of contexts) {
  await client.updateContext(ctx);
  let line = '';
  for (const t of client.getAllToggles()) {
    if (client.isEnabled(t.name)) line += `${t.name}=${client.getVariant(t.name).name};`;
  }
  out.push(line);
}
client.stop();
if (errors.length) {
  console.error(errors.join('\n'));
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
