// Unleash's Node SDK (unleash-client) pointed at a gateway's Unleash API,
// as an application would run it: it registers, fetches
// client/features, evaluates, and sends its metrics bucket.
//
//   node web/tests/unleash-metrics.mjs URL FLAG N
//
// URL is the API (http://gateway/api/), the key is $UNLEASH_KEY. The SDK
// calls isEnabled(FLAG) N times with a different userId each, then sends
// its metrics; the output is one line of JSON: {registered, sent: the
// bucket it sent, or null, yes, no, warnings}. tests/gateway/test_unleash.c
// runs this and reads the counts back from Vexil's stats API.
import { Unleash, InMemStorageProvider } from 'unleash-client';

const [url, flag, countText] = process.argv.slice(2);
if (!url || !flag || !countText) {
  console.error('usage: node unleash-metrics.mjs URL FLAG N');
  process.exit(2);
}
const warnings = [];
const unleash = new Unleash({
  url,
  appName: 'vexil-metrics-test',
  instanceId: 'test-1',
  disableAutoStart: true,
  refreshInterval: 60_000,
  // Long enough that only the explicit flush below sends a bucket.
  metricsInterval: 60_000,
  storageProvider: new InMemStorageProvider(),
  customHeaders: { Authorization: process.env.UNLEASH_KEY ?? '' },
});
unleash.on('error', (e) => warnings.push(`error: ${e?.message ?? e}`));
unleash.on('warn', (m) => warnings.push(`warn: ${m?.message ?? m}`));
const registered = new Promise((resolve) => {
  unleash.once('registered', () => resolve(true));
  setTimeout(() => resolve(false), 10_000);
});
await unleash.start();
await new Promise((resolve) => (unleash.isSynchronized() ? resolve() : unleash.once('synchronized', resolve)));

let yes = 0;
let no = 0;
for (let i = 0; i < Number(countText); i++) {
  if (unleash.isEnabled(flag, { userId: `u${i}` })) yes++;
  else no++;
}
const sent = new Promise((resolve) => {
  unleash.once('sent', (payload) => resolve(payload.bucket));
  setTimeout(() => resolve(null), 10_000);
});
// The SDK's own send, as its timer (or destroyWithFlush) calls it.
await unleash.flushMetrics();
const out = { registered: await registered, sent: await sent, yes, no, warnings };
process.stdout.write(`${JSON.stringify(out)}\n`);
unleash.destroy();
