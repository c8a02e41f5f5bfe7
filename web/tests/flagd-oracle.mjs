// Evaluates flagd flag definitions with flagd's own in-process evaluator
// (@openfeature/flagd-core), on randomized contexts, and prints what it
// answered, so a test can check that Vexil answers the same for the same
// flags (imported from that file, or exported into it).
//
//   node web/tests/flagd-oracle.mjs FILE COUNT SEED
//
// The output is one line: a JSON array with, per context, {context,
// results: {flag: {variant, reason, value}}}. The context is printed in
// the shape web/tests/unleash-oracle.mjs uses ({userId, properties}), with
// userId the targeting key, so tests/server/test_migrate.c reads both the
// same way.
import { readFileSync } from 'node:fs';
import { FlagdCore } from '@openfeature/flagd-core';
import { seeded } from './seeded.mjs';

const [file, countText, seedText] = process.argv.slice(2);
if (!file || !countText || !seedText) {
  console.error('usage: node flagd-oracle.mjs FILE COUNT SEED');
  process.exit(2);
}
const text = readFileSync(file, 'utf8');
const defs = JSON.parse(text).flags;
const core = new FlagdCore();
core.setConfigurations(text);

const { rand, pick } = seeded(seedText);

function context(i) {
  const props = {};
  const opt = (name, values) => {
    const v = pick([undefined, ...values]);
    if (v !== undefined) props[name] = v;
  };
  opt('country', ['DE', 'FR', 'US']);
  opt('plan', ['free', 'pro']);
  opt('appVersion', ['1.1.0', '1.2.1', '2.0.0']);
  opt('email', ['x@corp.com', 'a@b.com', 'ann@example.org']);
  opt('age', [12, 18, 40]);
  opt('org', ['acme', 'globex']);
  return { userId: pick([`u${i}`, `user-${Math.floor(rand() * 1e6)}`, 'u1']), properties: props };
}

const resolvers = {
  boolean: ['resolveBooleanEvaluation', false],
  string: ['resolveStringEvaluation', ''],
  number: ['resolveNumberEvaluation', 0],
  object: ['resolveObjectEvaluation', {}],
};
const out = [];
for (let i = 0; i < Number(countText); i++) {
  const ctx = context(i);
  const evalCtx = { targetingKey: ctx.userId, ...ctx.properties };
  const results = {};
  for (const [key, def] of Object.entries(defs)) {
    const first = Object.values(def.variants)[0];
    const [fn, dflt] = resolvers[typeof first] ?? resolvers.object;
    const r = core[fn](key, dflt, evalCtx);
    results[key] = { variant: r.variant ?? null, reason: r.reason ?? null, value: r.value };
  }
  out.push({ context: ctx, results });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
