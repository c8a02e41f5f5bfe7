// Evaluates an Unleash feature export (one environment) with Unleash's own
// Node SDK (unleash-client), on randomized contexts, and prints what the
// SDK answered, so a test can check that Vexil answers the same after
// importing that file (or that a file Vexil exported makes the SDK answer
// as Vexil does).
//
//   node web/tests/unleash-oracle.mjs FILE COUNT SEED
//
// FILE is the export (features, featureStrategies, featureEnvironments,
// segments, dependencies). The SDK gets it as bootstrap data in its own
// client-API shape and never reaches a server. Or FILE is the URL of an
// Unleash API (http://gateway/api/): the SDK then fetches
// client/features from it, as it would from Unleash, with the key in
// $UNLEASH_KEY, and evaluates the flags it lists. The output is one line: a
// JSON array with, per context, {context, results: {flag: {enabled,
// variant}}}. tests/server/test_migrate.c runs this; it lives under web/
// so node finds web/node_modules.
import { readFileSync } from 'node:fs';
import { Unleash, InMemStorageProvider } from 'unleash-client';
import { seeded } from './seeded.mjs';

const [file, countText, seedText] = process.argv.slice(2);
if (!file || !countText || !seedText) {
  console.error('usage: node unleash-oracle.mjs FILE COUNT SEED');
  process.exit(2);
}
const remote = /^https?:/.test(file);
const exp = remote ? null : JSON.parse(readFileSync(file, 'utf8'));

// The export's lists, regrouped as GET /api/client/features serves them.
const features = remote ? [] : exp.features
  .filter((f) => !f.archived)
  .map((f) => {
    const env = (exp.featureEnvironments ?? []).find((e) => e.featureName === f.name);
    const strategies = (exp.featureStrategies ?? [])
      .filter((s) => s.featureName === f.name)
      .sort((a, b) => (a.sortOrder ?? 0) - (b.sortOrder ?? 0))
      .map((s) => ({
        name: s.name,
        constraints: s.constraints ?? [],
        parameters: s.parameters ?? {},
        segments: s.segments ?? [],
        variants: s.variants ?? [],
        disabled: s.disabled ?? false,
      }))
      .filter((s) => !s.disabled);
    const dep = (exp.dependencies ?? []).find((d) => d.feature === f.name);
    return {
      name: f.name,
      type: f.type,
      enabled: env ? env.enabled : false,
      impressionData: f.impressionData ?? false,
      strategies,
      variants: env?.variants ?? f.variants ?? [],
      dependencies: dep ? dep.dependencies : undefined,
    };
  });

const { rand, pick } = seeded(seedText);

function context(i) {
  // Always a userId: without one, Unleash's default stickiness draws a
  // random number and no two evaluators can agree.
  const c = { userId: pick([`u${i}`, `user-${Math.floor(rand() * 1e6)}`, 'u1', 'vip']) };
  const props = {};
  if (rand() < 0.7) c.sessionId = `s-${Math.floor(rand() * 1e6)}`;
  if (rand() < 0.5) c.remoteAddress = pick(['10.1.2.3', '192.168.1.7', '172.16.0.1']);
  const opt = (name, values) => {
    const v = pick([undefined, ...values]);
    if (v !== undefined) props[name] = v;
  };
  opt('country', ['DE', 'FR', 'US']);
  opt('plan', ['free', 'pro']);
  opt('beta', ['true', 'false']);
  opt('appVersion', ['1.1.0', '1.2.1', '2.0.0']);
  opt('email', ['x@corp.com', 'y@CORP.COM', 'a@b.com']);
  opt('age', ['12', '18', '40']);
  opt('org', ['acme', 'globex']);
  c.properties = props;
  return c;
}

const unleash = new Unleash({
  url: remote ? file : 'http://127.0.0.1:9/api/',
  appName: 'vexil-oracle',
  disableMetrics: true,
  disableAutoStart: true,
  refreshInterval: remote ? 60_000 : 0,
  storageProvider: new InMemStorageProvider(),
  ...(remote
    ? { customHeaders: { Authorization: process.env.UNLEASH_KEY ?? '' } }
    : { bootstrap: { data: features, segments: exp.segments ?? [] } }),
});
unleash.on('error', () => {});
unleash.on('warn', (m) => process.env.ORACLE_DEBUG && console.error('warn', m));
unleash.on('error', (m) => process.env.ORACLE_DEBUG && console.error('error', m));
const ready = new Promise((resolve) => unleash.once('ready', resolve));
await unleash.start();
await ready;

const out = [];
for (let i = 0; i < Number(countText); i++) {
  const ctx = context(i);
  const results = {};
  const names = remote ? unleash.getFeatureToggleDefinitions().map((f) => f.name) : features.map((f) => f.name);
  for (const name of names) {
    const f = { name };
    const v = unleash.getVariant(f.name, ctx);
    results[f.name] = {
      enabled: unleash.isEnabled(f.name, ctx),
      variant: v.name,
      payload: v.payload ?? null,
    };
  }
  out.push({ context: ctx, results });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
unleash.destroy();
