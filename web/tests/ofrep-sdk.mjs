// Evaluates flags against a Vexil gateway's OFREP endpoints with the real
// OpenFeature server SDK (@openfeature/server-sdk) and its OFREP provider
// (@openfeature/ofrep-provider), and prints what the SDK resolved.
//
//   node web/tests/ofrep-sdk.mjs BASE_URL KEY SPEC
//
// SPEC is a JSON array of {flag, type: boolean|string|number|object,
// default, context}. The output is one line: a JSON array with, per entry,
// {flag, value, variant, reason, errorCode, metadata} as the SDK's
// evaluation details have them. tests/gateway/test_ofrep.c runs this and
// checks the answers; it lives under web/ so node finds web/node_modules.
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const [baseUrl, key, specText] = process.argv.slice(2);
if (!baseUrl || !key || !specText) {
  console.error('usage: node ofrep-sdk.mjs BASE_URL KEY SPEC');
  process.exit(2);
}
const spec = JSON.parse(specText);
const getters = {
  boolean: 'getBooleanDetails',
  string: 'getStringDetails',
  number: 'getNumberDetails',
  object: 'getObjectDetails',
};

await OpenFeature.setProviderAndWait(
  new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${key}`]] }),
);
const client = OpenFeature.getClient();
const out = [];
for (const e of spec) {
  const getter = getters[e.type];
  if (!getter) throw new Error(`unknown type ${e.type} for flag ${e.flag}`);
  const d = await client[getter](e.flag, e.default, e.context ?? {});
  out.push({
    flag: e.flag,
    value: d.value,
    variant: d.variant ?? null,
    reason: d.reason ?? null,
    errorCode: d.errorCode ?? null,
    metadata: d.flagMetadata ?? {},
  });
}
process.stdout.write(`${JSON.stringify(out)}\n`);
await OpenFeature.close();
