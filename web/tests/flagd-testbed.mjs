// Runs OpenFeature's flagd-testbed evaluator scenarios (Gherkin feature
// files, read in place) against Vexil's OFREP endpoint and, as a
// cross-check, against flagd's own evaluator (@openfeature/flagd-core)
// loaded with the suite's flag file. tests/server/test_migrate.c imports
// the same flag file into a project, starts the gateway and runs this.
//
//   node web/tests/flagd-testbed.mjs GHERKIN_DIR FLAGS_FILE BASE_URL SDK_KEY
//
// Every scenario (an outline once per Examples row) that is not tagged
// @fractional-v1 (flagd's older bucketing) is run. The steps are the
// evaluator suite's: a typed flag with a fallback value, a context (keys
// with a type, nested properties, a targeting key), an evaluation with
// details, and checks of the value, reason, error code and metadata. OFREP
// answers are what OpenFeature's server SDK with its OFREP provider
// (@openfeature/ofrep-provider) resolves, except an answer without a value
// (OFREP's codeDefaultFlag, which that provider predates: see viaOfrep);
// an Integer flag whose answer does not write an integer (1.0 for 1) is
// TYPE_MISMATCH.
//
// Prints one JSON object: {scenarios: [{name, flag, ofrep, flagd}]}, where ofrep
// and flagd are null when every step held, else why not. Exits 2 on a step
// it does not know (the suite changed) or a file it cannot read.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { FlagdCore } from '@openfeature/flagd-core';
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [dir, flagsFile, base, key] = process.argv.slice(2);
if (!dir || !flagsFile || !base || !key) {
  console.error('usage: node flagd-testbed.mjs GHERKIN_DIR FLAGS_FILE BASE_URL SDK_KEY');
  process.exit(2);
}

// ---- Gherkin: the subset the suite uses ----

// A table cell: \" \| \\ \n escapes, trimmed.
function cells(line) {
  const out = [];
  let cur = '';
  const s = line.trim().slice(1);
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      const n = s[++i];
      cur += n === 'n' ? '\n' : n;
    } else if (c === '|') {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  return out;
}

// The feature's scenarios, outlines expanded: [{name, tags, steps}], each
// step {text, table} (table: rows of cells, the first the header).
function parseFeature(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  let featureTags = [];
  let pending = [];
  let background = [];
  let cur = null; // the scenario being read
  let steps = null; // where steps go (background or cur)
  let table = null; // where table rows go
  const scenarios = [];
  let feature = '';

  const finish = () => {
    if (!cur) return;
    if (!cur.outline) {
      scenarios.push({ name: cur.name, tags: cur.tags, steps: [...background, ...cur.steps] });
    } else {
      for (const ex of cur.examples) {
        const [head, ...rows] = ex.rows;
        rows.forEach((row, n) => {
          const sub = (t) => t.replace(/<([^>]+)>/g, (m, k) => {
            const i = head.indexOf(k);
            return i < 0 ? m : row[i];
          });
          scenarios.push({
            name: `${cur.name} [${ex.name || 'Examples'} #${n + 1}: ${row.join(', ')}]`,
            tags: [...cur.tags, ...ex.tags],
            steps: [...background, ...cur.steps].map((s) => ({
              text: sub(s.text),
              table: s.table && s.table.map((r) => r.map(sub)),
            })),
          });
        });
      }
    }
    cur = null;
  };

  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('@')) {
      pending.push(...line.split(/\s+/).filter((t) => t.startsWith('@')));
      continue;
    }
    if (line.startsWith('|')) {
      if (!table) throw new Error(`${file}: a table row outside a step or Examples: ${line}`);
      table.push(cells(line));
      continue;
    }
    let m;
    if ((m = /^Feature:\s*(.*)$/.exec(line))) {
      feature = m[1];
      featureTags = pending;
      pending = [];
      table = null;
    } else if (/^Background:/.test(line)) {
      background = [];
      steps = background;
      table = null;
    } else if ((m = /^Scenario( Outline| Template)?:\s*(.*)$/.exec(line))) {
      finish();
      cur = {
        name: `${feature}: ${m[2]}`,
        tags: [...featureTags, ...pending],
        outline: !!m[1],
        steps: [],
        examples: [],
      };
      pending = [];
      steps = cur.steps;
      table = null;
    } else if ((m = /^(Examples|Scenarios):\s*(.*)$/.exec(line))) {
      if (!cur) throw new Error(`${file}: Examples outside a scenario`);
      cur.outline = true;
      const ex = { name: m[2], tags: pending, rows: [] };
      pending = [];
      cur.examples.push(ex);
      table = ex.rows;
    } else if ((m = /^(Given|When|Then|And|But|\*)\s+(.*)$/.exec(line))) {
      if (!steps) throw new Error(`${file}: a step outside a scenario: ${line}`);
      const step = { text: m[2], table: null };
      steps.push(step);
      table = step.table = [];
    } else {
      throw new Error(`${file}: a line this reader does not know: ${line}`);
    }
  }
  finish();
  return scenarios;
}

// ---- values ----

function typed(type, text) {
  switch (type) {
    case 'Boolean': return text === 'true';
    case 'Integer': return Number.parseInt(text, 10);
    case 'Float': return Number.parseFloat(text);
    case 'Object': return JSON.parse(text);
    default: return text;
  }
}

function sameValue(type, got, wanted) {
  if (type === 'Object') return isDeepStrictEqual(got, wanted);
  if (type === 'Float' || type === 'Integer') return typeof got === 'number' && got === wanted;
  return got === wanted;
}

// ---- the two evaluators ----

// OFREP, through the real OpenFeature server SDK and its OFREP provider.
// The raw answer is fetched as well: JavaScript has one number type, so
// an Integer flag is also checked to be written as an integer there (1,
// not 1.0), as a typed SDK would need it.
await OpenFeature.setProviderAndWait(
  new OFREPProvider({ baseUrl: base, headers: [['Authorization', `Bearer ${key}`]] }),
);
const client = OpenFeature.getClient();
const getters = {
  Boolean: 'getBooleanDetails',
  String: 'getStringDetails',
  Integer: 'getNumberDetails',
  Float: 'getNumberDetails',
  Object: 'getObjectDetails',
};

async function viaOfrep(flag) {
  const d = await client[getters[flag.type]](flag.key, flag.fallback, { ...flag.context });
  const res = await fetch(`${base}/ofrep/v1/evaluate/flags/${encodeURIComponent(flag.key)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ context: flag.context }),
  });
  const body = await res.text();
  const text = `${res.status} ${body}`;
  // OFREP's codeDefaultFlag (open-feature/protocol ADR 0006): a success
  // without a value means "use the code default" with its reason. The
  // provider in the registry (0.1.3) predates it and reads TYPE_MISMATCH.
  if (res.status === 200 && !('value' in JSON.parse(body))) {
    const o = JSON.parse(body);
    return { value: flag.fallback, reason: o.reason, variant: o.variant, metadata: o.metadata, text };
  }
  const got = { value: d.value, reason: d.reason, variant: d.variant, errorCode: d.errorCode,
    metadata: d.flagMetadata, text };
  const raw = /"value":\s*(-?[0-9][0-9.eE+-]*)/.exec(text)?.[1];
  if (!d.errorCode && flag.type === 'Integer' && raw !== undefined && !/^-?\d+$/.test(raw)) {
    return { ...got, value: flag.fallback, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' };
  }
  return got;
}

const flagsText = readFileSync(flagsFile, 'utf8');
// flagd-core logs what it cannot parse (the suite's $ref to a missing
// evaluator, on purpose); the scenarios check what it answers.
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const core = new FlagdCore(undefined, quiet);
core.setConfigurations(flagsText);

function viaFlagd(flag) {
  const fn = {
    Boolean: 'resolveBooleanEvaluation',
    String: 'resolveStringEvaluation',
    Integer: 'resolveNumberEvaluation',
    Float: 'resolveNumberEvaluation',
    Object: 'resolveObjectEvaluation',
  }[flag.type];
  try {
    const r = core[fn](flag.key, flag.fallback, flag.context, quiet);
    if (flag.type === 'Integer' && r.value !== undefined && !Number.isInteger(r.value)) {
      return { value: flag.fallback, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' };
    }
    return { value: r.value, reason: r.reason, variant: r.variant, errorCode: r.errorCode,
      metadata: r.flagMetadata };
  } catch (e) {
    return { value: flag.fallback, reason: 'ERROR', errorCode: e.code ?? String(e) };
  }
}

// ---- steps ----

const STEPS = [
  [/^an evaluator$/, () => {}],
  [/^a (\w+)-flag with key "(.*)" and a fallback value "(.*)"$/, (s, m) => {
    s.flag = { type: m[1], key: m[2], fallback: typed(m[1], m[3]), context: s.context };
  }],
  [/^a context containing a key "(.*)", with type "(\w+)" and with value "(.*)"$/, (s, m) => {
    s.context[m[1]] = typed(m[2], m[3]);
  }],
  [/^a context containing a nested property with outer key "(.*)" and inner key "(.*)", with value "(.*)"$/,
    (s, m) => {
      s.context[m[1]] = { ...(s.context[m[1]] ?? {}), [m[2]]: m[3] };
    }],
  [/^a context containing a targeting key with value "(.*)"$/, (s, m) => {
    s.context.targetingKey = m[1];
  }],
  [/^the flag was evaluated with details$/, async (s, m, via) => {
    s.got = await via(s.flag);
  }],
  [/^the resolved details value should be "(.*)"$/, (s, m) => {
    const want = typed(s.flag.type, m[1]);
    if (!sameValue(s.flag.type, s.got.value, want)) {
      return `value ${JSON.stringify(s.got.value)}, wanted ${JSON.stringify(want)}`;
    }
  }],
  [/^the reason should be "(.*)"$/, (s, m) => {
    if (s.got.reason !== m[1]) return `reason ${s.got.reason}, wanted ${m[1]}`;
  }],
  [/^the error-code should be "(.*)"$/, (s, m) => {
    if (s.got.errorCode !== m[1]) return `error code ${s.got.errorCode}, wanted ${m[1]}`;
  }],
  [/^the resolved metadata should contain$/, (s, m, via, table) => {
    const [head, ...rows] = table;
    const md = s.got.metadata ?? {};
    for (const row of rows) {
      const r = Object.fromEntries(head.map((h, i) => [h, row[i]]));
      const want = typed(r.metadata_type, r.value);
      if (!sameValue(r.metadata_type, md[r.key], want)) {
        return `metadata ${r.key} is ${JSON.stringify(md[r.key])}, wanted ${JSON.stringify(want)}`;
      }
    }
  }],
  [/^the resolved metadata is empty$/, (s) => {
    const md = s.got.metadata ?? {};
    if (Object.keys(md).length !== 0) return `metadata ${JSON.stringify(md)}, wanted none`;
  }],
];

// Runs one scenario with one evaluator; null when every step held.
async function run(sc, via) {
  const s = { context: {}, flag: null, got: null };
  for (const step of sc.steps) {
    const hit = STEPS.find(([re]) => re.test(step.text));
    if (!hit) {
      console.error(`unknown step in "${sc.name}": ${step.text}`);
      process.exit(2);
    }
    const why = await hit[1](s, hit[0].exec(step.text), via, step.table);
    if (why) {
      const ctx = JSON.stringify(s.context);
      return `${step.text}: ${why} (flag ${s.flag?.key}, context ${ctx}` +
        `${s.got?.text ? `, answer ${s.got.text.slice(0, 300)}` : ''})`;
    }
  }
  return null;
}

const out = [];
for (const f of readdirSync(dir).filter((n) => n.endsWith('.feature')).sort()) {
  for (const sc of parseFeature(join(dir, f))) {
    if (sc.tags.includes('@fractional-v1')) continue;
    const flag = sc.steps.map((st) => /-flag with key "(.*?)"/.exec(st.text)?.[1]).find((k) => k);
    out.push({ name: `${f}: ${sc.name}`, flag, ofrep: await run(sc, viaOfrep),
      flagd: await run(sc, viaFlagd) });
  }
}
console.log(JSON.stringify({ scenarios: out }));
await OpenFeature.close();
