// Vexil: drives the admin UI (/ui/) in headless Chromium, as a person would,
// against a real gateway and vexild.
//
//   node web/tests/ui.mjs http://127.0.0.1:PORT OUTDIR
//
// Signs up a new user, creates a project and a flag, turns it on in
// production and adds an ends_with rule, checks through OFREP that the
// evaluation changed, adds a second rule at 50% and moves it first,
// watches a second browser context see a toggle live (and warn an editor of
// the change, whose stale save is refused), reads the change in the audit log,
// runs the playground, creates an API key, makes a segment and a string
// flag with three variants, a rule of two conditions serving a 50/50 split,
// a rule requiring the segment and a prerequisite, each seen through OFREP,
// changes the split's stickiness in the rule form (a bad name refused at
// the field) and sees users of one team share a variant, shows a live
// reload refused for real (a member taken off the project) as a notice
// that the next good reload clears, and checks that an expired
// credential returns to sign-in with a message. Throughout: no console
// error, no script error, no request leaving the gateway, and a first load
// of at most 300 KB. One screenshot per screen goes to OUTDIR (ui-*.png).
// Prints "ui ok" and exits 0 on success. Run by the ctest entry `ui`
// (tests/gateway/test_ui.c).
import { chromium } from 'playwright-core';
import { browserKit } from './browser.mjs';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: ui.mjs BASE_URL OUTDIR');
  process.exit(2);
}
const CHROMIUM = process.env.VX_CHROMIUM || '/usr/bin/chromium';
const FIRST_LOAD_MAX = 300 * 1024;
const email = `ann-${Date.now()}@example.com`;
const password = 'correct-horse-battery';

const { newPage, shot, api, expectRefusal, assertClean } = browserKit(base, outDir, 'ui');
function step(s) {
  console.log(`- ${s}`);
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function ofrepFlag(sdkKey, key, context) {
  const r = await api('POST', `/ofrep/v1/evaluate/flags/${key}`, `Bearer ${sdkKey}`, { context: { environment: 'production', ...context } });
  check(r.status === 200, `OFREP ${key}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

// OFREP asked again until ok(answer): a write's change notice reaches the
// gateway's edge a moment after the write's reply (docs/gateway.md, "Not
// behind"), so an answer right after a write may be from before it.
async function ofrepUntil(sdkKey, key, context, ok) {
  let r;
  for (let i = 0; i < 100; i++) {
    r = await ofrepFlag(sdkKey, key, context);
    if (ok(r)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  return r;
}

async function ofrep(sdkKey, who) {
  const r = await api('POST', '/ofrep/v1/evaluate/flags/new-checkout', `Bearer ${sdkKey}`,
    { context: { targetingKey: 'u-1', email: who, environment: 'production' } });
  check(r.status === 200, `OFREP: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

let browser, failed = false, pageA = null;
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const a = await newPage(browser, { width: 1280, height: 900 }, 'A');
  pageA = a;

  // First load: the page and everything it loads, counted as sent.
  let firstLoad = 0;
  const count = async (res) => { try { firstLoad += (await res.body()).length; } catch (e) { /* redirect */ } };
  a.on('response', count);
  await a.goto(`${base}/ui/`, { waitUntil: 'networkidle' });
  a.off('response', count);
  step(`first load ${firstLoad} bytes`);
  check(firstLoad > 0 && firstLoad <= FIRST_LOAD_MAX, `first load is ${firstLoad} bytes, over ${FIRST_LOAD_MAX}`);

  // Sign up, with the keyboard only.
  await a.getByRole('heading', { name: 'Sign in to Vexil' }).waitFor();
  await shot(a, 'signin');
  await a.getByRole('tab', { name: 'Create account' }).click();
  await a.getByLabel('Email').focus();
  await a.keyboard.type(email);
  await a.keyboard.press('Tab');
  expectRefusal(400, /\/auth\/register$/);
  await a.keyboard.type('short');
  await a.keyboard.press('Enter');
  // The API's error is shown next to the field it is about.
  await a.locator('#main .err:not(:empty)').first().waitFor();
  step(`short password refused: ${await a.locator('#main .err:not(:empty)').first().textContent()}`);
  await a.getByLabel('Password').fill(password);
  await a.getByLabel('Password').press('Enter');
  await a.getByRole('heading', { name: 'Projects' }).waitFor();
  step('signed up and in');

  // A project, then a flag.
  await a.getByLabel('Name').fill('shop');
  await a.getByRole('button', { name: 'Create project' }).click();
  await a.getByRole('heading', { name: 'Flags of shop' }).waitFor();
  const pid = a.url().match(/#\/p\/([^/]+)\//)[1];
  await shot(a, 'projects-empty-flags');
  await a.getByRole('link', { name: 'New flag' }).click();
  await a.getByLabel('Key').fill('new-checkout');
  await a.getByLabel('Name').fill('New checkout');
  await a.getByLabel('Tags (comma-separated)').fill('payments, web');
  await a.getByRole('button', { name: 'Create flag' }).click();
  await a.getByRole('heading', { name: 'Flag new-checkout' }).waitFor();
  step(`project ${pid} and flag new-checkout created`);

  // The token and the project's SDK key, as a script would get them.
  const cred = JSON.parse(await a.evaluate(() => sessionStorage.getItem('vexil.credential')));
  const auth = `Bearer ${cred.value}`;
  const projects = await api('GET', '/v1/projects', auth);
  const sdkKey = projects.json.projects.find((p) => p.id === pid).sdk_key;
  const before = await ofrep(sdkKey, 'ann@example.com');
  check(before.value === false && before.reason === 'DISABLED', `before: ${JSON.stringify(before)}`);

  // On in production, then an ends_with rule there.
  const prod = a.locator('section[data-env="production"]');
  await prod.getByLabel('On in production').check();
  await prod.locator('.state-on').waitFor();
  await prod.getByLabel('Attribute').fill('email');
  await prod.getByLabel('Operator').selectOption('ends_with');
  await prod.getByLabel('Values (comma-separated)').fill('@example.com');
  await prod.getByRole('button', { name: 'Add rule' }).click();
  await prod.locator('ol.rules li', { hasText: 'email ends_with @example.com' }).waitFor();
  await shot(a, 'flag');
  const inRule = await ofrep(sdkKey, 'ann@example.com');
  const outRule = await ofrep(sdkKey, 'bob@other.org');
  check(inRule.value === true && inRule.reason === 'TARGETING_MATCH', `matching: ${JSON.stringify(inRule)}`);
  check(outRule.value === false, `not matching: ${JSON.stringify(outRule)}`);
  step(`OFREP: ${before.reason} -> ${inRule.reason} for @example.com, ${outRule.reason} for others`);

  // A second rule, moved above the first: the order is the API's too.
  await prod.getByLabel('Attribute').fill('country');
  await prod.getByLabel('Operator').selectOption('in');
  await prod.getByLabel('Values (comma-separated)').fill('NZ, AU');
  await prod.getByLabel('Serve to % of matches').fill('50');
  await prod.getByRole('button', { name: 'Add rule' }).click();
  await prod.locator('ol.rules li').nth(1).filter({ hasText: 'country in NZ, AU' }).waitFor();
  await prod.getByRole('button', { name: 'Move country in NZ, AU up' }).click();
  await prod.locator('ol.rules li').nth(0).filter({ hasText: 'country in NZ, AU' }).waitFor();
  check(await prod.getByLabel('Serve country in NZ, AU to % of matches').inputValue() === '50', 'the rule keeps its 50%');
  step('a second rule at 50% moved first');

  // A bad rule: the API's error next to the field it names.
  await prod.getByLabel('Attribute').fill('email');
  await prod.getByLabel('Values (comma-separated)').fill('');
  expectRefusal(400, /\/v1\/flags\/[^/]+\/rules\?/);
  await prod.getByRole('button', { name: 'Add rule' }).click();
  await prod.locator('[aria-invalid="true"]').waitFor();
  step(`empty values refused next to ${await prod.locator('[aria-invalid="true"]').getAttribute('name')}`);

  // More flags for the list, through the API as a script would.
  for (const [key, name, tags] of [['dark-mode', 'Dark mode', ['web']], ['search-v2', 'New search', ['search']],
    ['checkout-upsell', 'Upsell at checkout', ['payments']], ['beta-banner', 'Beta banner', []]])
    check((await api('POST', '/v1/flags', auth, { project_id: pid, key, name, tags, state: { production: key === 'dark-mode' } })).status === 201, `create ${key}`);

  // A second browser context: the same person in another window.
  const b = await newPage(browser, { width: 1280, height: 900 }, 'B');
  await b.goto(`${base}/ui/`);
  await b.getByLabel('Email').fill(email);
  await b.getByLabel('Password').fill(password);
  await b.getByRole('button', { name: 'Sign in' }).click();
  await b.getByRole('heading', { name: 'Projects' }).waitFor();
  await b.getByRole('link', { name: 'shop' }).click();
  await b.getByRole('heading', { name: 'Flags of shop' }).waitFor();
  const bBox = b.locator('tr[data-flag="new-checkout"] input[type="checkbox"]');
  await bBox.waitFor();
  check(await bBox.isChecked(), 'B sees new-checkout on in production');
  await b.waitForFunction(() => document.body.dataset.live === 'on');
  // Search by tag text.
  await b.getByLabel('Search by key, name or tag').fill('payments');
  await b.locator('tr[data-flag="checkout-upsell"]').waitFor();
  await b.waitForFunction(() => document.querySelectorAll('tr[data-flag]').length === 2);
  await b.getByLabel('Search by key, name or tag').fill('');
  await b.waitForFunction(() => document.querySelectorAll('tr[data-flag]').length === 5);
  await shot(b, 'flags');

  // A turns it off from its list; B sees it without reloading.
  await a.getByRole('link', { name: 'Flags', exact: true }).click();
  await a.getByRole('heading', { name: 'Flags of shop' }).waitFor();
  await a.locator('tr[data-flag="new-checkout"] input[type="checkbox"]').uncheck();
  await b.waitForFunction(() => {
    const x = document.querySelector('tr[data-flag="new-checkout"] input[type="checkbox"]');
    return x && !x.checked;
  });
  step('B saw the toggle live');

  // B edits the flag while A changes it: B is told before saving.
  await b.locator('tr[data-flag="new-checkout"] a').click();
  await b.getByRole('heading', { name: 'Flag new-checkout' }).waitFor();
  await b.getByLabel('Description').fill('Being edited in B');
  const c = await api('PUT', `/v1/flags/${(await api('GET', `/v1/flags?project_id=${pid}&q=new-checkout`, auth)).json.flags[0].id}?project_id=${pid}`,
    auth, { description: 'Changed by a script' });
  check(c.status === 200, `PUT: ${c.status}`);
  await b.getByText('This flag was changed by someone else').waitFor();
  await shot(b, 'flag-changed-underneath');
  // Saving anyway is refused by the core (if_revision), not a silent overwrite.
  expectRefusal(400, /\/v1\/flags\/[^/?]+\?/);
  await b.getByRole('button', { name: 'Save' }).click();
  await b.getByText('Not saved: the project changed').waitFor();
  const after = await api('GET', `/v1/flags?project_id=${pid}&q=new-checkout`, auth);
  check(after.json.flags[0].description === 'Changed by a script', `overwritten: ${after.json.flags[0].description}`);
  step('B was warned of a change underneath, and its stale save refused');

  // The audit log names the change.
  await a.getByRole('link', { name: 'Audit log' }).click();
  await a.getByRole('heading', { name: 'Audit log of shop' }).waitFor();
  await a.locator('table.audit tr', { hasText: 'added a rule to new-checkout' }).first().waitFor();
  await a.locator('table.audit tr', { hasText: 'changed a rule of new-checkout' }).first().waitFor();
  await a.locator('table.audit tr', { hasText: 'switched flag new-checkout' }).first().waitFor();
  await a.locator('table.audit td', { hasText: `you (${email})` }).first().waitFor();
  // Each with what changed: the field, before and after.
  await a.locator('table.audit li', { hasText: 'production.enabled: off → on' }).first().waitFor();
  await a.locator('table.audit li', { hasText: 'if email ends_with @example.com then on' }).first().waitFor();
  await shot(a, 'audit');
  step('audit log shows the rule and the toggles');

  // The playground.
  await a.getByRole('link', { name: 'Playground' }).click();
  await a.getByLabel('Email').fill('ann@example.com');
  await a.getByRole('button', { name: 'Evaluate' }).click();
  await a.locator('tr[data-flag="dark-mode"]', { hasText: 'STATIC' }).waitFor();
  await shot(a, 'playground');

  // Environments and keys: the secret shown once.
  await a.getByRole('link', { name: 'Environments and keys' }).click();
  await a.getByRole('heading', { name: 'Environments and keys of shop' }).waitFor();
  await a.locator('form', { hasText: 'Create API key' }).getByLabel('Name').fill('ci');
  await a.getByRole('button', { name: 'Create API key' }).click();
  const secret = await a.locator('[data-secret]').textContent();
  check(/^vxk_/.test(secret), `secret shown: ${secret}`);
  check((await api('GET', `/v1/flags?project_id=${pid}`, `ApiKey ${secret}`)).status === 200, 'the new key works');
  // An SDK key bound to staging: shown once, and it evaluates staging.
  await a.getByLabel('Environment', { exact: true }).selectOption('staging');
  await a.getByRole('button', { name: 'Create SDK key' }).click();
  const sdkSecret = await a.locator('[data-sdk-secret]').textContent();
  const staged = await api('POST', '/ofrep/v1/evaluate/flags/new-checkout', `Bearer ${sdkSecret}`, { context: {} });
  check(staged.status === 200 && staged.headers.get('vexil-environment') === 'staging', `the SDK key: ${JSON.stringify(staged.json)}`);
  await shot(a, 'settings');

  // Flag page with the chart.
  await a.getByRole('link', { name: 'Flags', exact: true }).click();
  await a.locator('tr[data-flag="new-checkout"] a').click();
  await a.locator('svg.chart').waitFor();

  // A segment: users in New Zealand.
  await a.getByRole('link', { name: 'Segments' }).click();
  await a.getByRole('heading', { name: 'Segments of shop' }).waitFor();
  const segForm = a.locator('form[aria-label="New segment"]');
  await segForm.getByLabel('Name').fill('kiwis');
  await segForm.getByLabel('Description').fill('Users in New Zealand');
  await segForm.getByLabel('Attribute', { exact: true }).fill('country');
  await segForm.getByLabel('Operator', { exact: true }).selectOption('equals');
  await segForm.getByLabel('Values (comma-separated)', { exact: true }).fill('NZ');
  await segForm.getByRole('button', { name: 'Create segment' }).click();
  await a.locator('tr[data-segment="kiwis"]', { hasText: 'country equals NZ' }).waitFor();
  await shot(a, 'segments');
  step('segment kiwis created');

  // A string flag with three variants.
  await a.getByRole('link', { name: 'Flags', exact: true }).click();
  await a.getByRole('link', { name: 'New flag' }).click();
  await a.getByLabel('Key').fill('banner-color');
  await a.getByLabel('Name').fill('Banner color');
  await a.getByLabel('Type').selectOption('string');
  await a.getByLabel('Variant 1', { exact: true }).fill('red');
  await a.getByLabel('Value of variant 1').fill('red');
  await a.getByLabel('Variant 2', { exact: true }).fill('green');
  await a.getByLabel('Value of variant 2').fill('green');
  await a.getByRole('button', { name: 'Add variant' }).click();
  await a.getByLabel('Variant 3', { exact: true }).fill('blue');
  await a.getByLabel('Value of variant 3').fill('blue');
  await shot(a, 'new-string-flag');
  await a.getByRole('button', { name: 'Create flag' }).click();
  await a.getByRole('heading', { name: 'Flag banner-color' }).waitFor();
  const vflag = (await api('GET', `/v1/flags?project_id=${pid}&q=banner-color`, auth)).json.flags[0];
  check(vflag.type === 'string' && vflag.variants.map((v) => v.value).join() === 'red,green,blue', `the flag: ${JSON.stringify(vflag)}`);
  step('string flag banner-color with variants red, green, blue');

  // On in production; a rule of two conditions serving a 50/50 split.
  const vprod = a.locator('section[data-env="production"]');
  await vprod.getByLabel('On in production').check();
  await vprod.locator('.state-on').waitFor();
  await vprod.getByLabel('Attribute', { exact: true }).fill('plan');
  await vprod.getByLabel('Operator', { exact: true }).selectOption('equals');
  await vprod.getByLabel('Values (comma-separated)', { exact: true }).fill('pro');
  await vprod.getByRole('button', { name: 'Add condition' }).click();
  await vprod.getByLabel('Attribute (condition 2)').fill('country');
  await vprod.getByLabel('Operator (condition 2)').selectOption('in');
  await vprod.getByLabel('Values (comma-separated) (condition 2)').fill('NZ, AU');
  await vprod.getByLabel('Serves').selectOption('');
  // Weights must add up to 100%: refused in the page, nothing sent.
  await vprod.getByLabel('Weight of red (%)').fill('60');
  await vprod.getByLabel('Weight of green (%)').fill('50');
  await vprod.getByRole('button', { name: 'Add rule' }).click();
  await vprod.getByText('The weights add up to 110%, not 100%').waitFor();
  await vprod.getByLabel('Weight of red (%)').fill('50');
  await vprod.getByRole('button', { name: 'Add rule' }).click();
  await vprod.locator('ol.rules li', { hasText: 'plan equals pro and country in NZ, AU' }).waitFor();
  const served = {};
  await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-0', plan: 'pro', country: 'NZ' }, (r) => !['STATIC', 'DEFAULT', 'DISABLED'].includes(r.reason));
  for (let i = 0; i < 40; i++) {
    const r = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: `user-${i}`, plan: 'pro', country: 'NZ' });
    check((r.value === 'red' || r.value === 'green') && r.variant === r.value, `the split serves red or green: ${JSON.stringify(r)}`);
    served[r.value] = (served[r.value] || 0) + 1;
  }
  check(served.red > 0 && served.green > 0, `both halves served: ${JSON.stringify(served)}`);
  const outside = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'NZ' });
  check(outside.value === 'red', `no rule matches: the default, red: ${JSON.stringify(outside)}`);
  step(`OFREP: the split served ${JSON.stringify(served)}, others red`);

  // The default variant, then a rule requiring the segment.
  await vprod.getByLabel('Default variant').selectOption('blue');
  await vprod.getByText('blue to the rest').waitFor();
  const elsewhere = await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'FR' }, (r) => r.value === 'blue');
  check(elsewhere.value === 'blue', `the default variant is blue: ${JSON.stringify(elsewhere)}`);
  // The split's rule changed in place: Australia leaves it.
  await vprod.getByRole('button', { name: 'Edit rule plan equals pro and country in NZ, AU' }).click();
  await vprod.getByLabel('Values (comma-separated) (condition 2)').fill('NZ');
  await vprod.getByRole('button', { name: 'Save rule' }).click();
  await vprod.getByRole('button', { name: 'Edit rule plan equals pro and country in NZ', exact: true }).waitFor();
  const aussie = await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'pro', country: 'AU' }, (r) => r.value === 'blue');
  const kiwiPro = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'pro', country: 'NZ' });
  check(aussie.value === 'blue' && (kiwiPro.value === 'red' || kiwiPro.value === 'green'), `edited rule: ${JSON.stringify([aussie, kiwiPro])}`);
  step('the split rule edited in place: AU now gets the default');

  // The split's stickiness changed on the same form: then users of one
  // team share a variant, whoever they are.
  const pro = { plan: 'pro', country: 'NZ' };
  const splitRule = 'Edit rule plan equals pro and country in NZ';
  await vprod.getByRole('button', { name: splitRule, exact: true }).click();
  const sticky = vprod.getByLabel('Stickiness of the split');
  check(await sticky.isEditable() && await sticky.inputValue() === '', 'the stickiness can be changed, empty so far');
  // A name that is no attribute's: refused next to the field, nothing changed.
  await sticky.fill('not a key');
  expectRefusal(400, /\/v1\/flags\/[^/]+\/rules\/[^/?]+\?/);
  await vprod.getByRole('button', { name: 'Save rule' }).click();
  await vprod.locator('input[name="split_stickiness"][aria-invalid="true"]').waitFor();
  const stickyErr = await vprod.locator(`[id="${await sticky.getAttribute('aria-describedby')}"]`).textContent();
  check(/split_stickiness/.test(stickyErr), `the refusal names the field: ${stickyErr}`);
  const ruleNow = async () => (await api('GET', `/v1/flags/${vflag.id}?project_id=${pid}`, auth)).json.rules
    .find((r) => r.split && r.split.length);
  check((await ruleNow()).split_stickiness === '', 'a refused stickiness changes nothing');
  await shot(a, 'rule-stickiness-refused');
  step(`a bad stickiness refused next to the field: ${stickyErr}`);
  await sticky.fill('team');
  await vprod.getByRole('button', { name: 'Save rule' }).click();
  await vprod.locator('ol.rules li', { hasText: 'by team' }).waitFor();
  check((await ruleNow()).split_stickiness === 'team', 'the rule buckets by team');
  // One team, forty users: one variant for all once the edge has the write.
  let teamOne = [];
  for (let i = 0; i < 100; i++) {
    teamOne = [];
    for (let u = 0; u < 40; u++) teamOne.push((await ofrepFlag(sdkKey, 'banner-color', { targetingKey: `user-${u}`, team: 'ops', ...pro })).value);
    if (new Set(teamOne).size === 1) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  check(new Set(teamOne).size === 1 && ['red', 'green'].includes(teamOne[0]), `users of team ops split apart: ${teamOne}`);
  const byTeam = {};
  for (let t = 0; t < 20; t++) {
    const x = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: `someone-${t}`, team: `t${t}`, ...pro });
    const y = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: `other-${t}`, team: `t${t}`, ...pro });
    check(x.value === y.value, `two users of team t${t}: ${x.value} and ${y.value}`);
    byTeam[x.value] = (byTeam[x.value] || 0) + 1;
  }
  check(byTeam.red > 0 && byTeam.green > 0, `teams still split: ${JSON.stringify(byTeam)}`);
  step(`the split's stickiness set to team in the form: one variant per team ${JSON.stringify(byTeam)}`);
  await vprod.getByLabel('Segment kiwis').check();
  await vprod.getByLabel('Serves').selectOption('green');
  await vprod.getByRole('button', { name: 'Add rule' }).click();
  await vprod.locator('ol.rules li', { hasText: 'segment kiwis' }).waitFor();
  const kiwi = await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'NZ' }, (r) => r.value === 'green');
  const french = await ofrepFlag(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'FR' });
  check(kiwi.value === 'green' && french.value === 'blue', `segment: ${JSON.stringify(kiwi)} ${JSON.stringify(french)}`);
  step('OFREP: the segment rule serves green in NZ, the default blue elsewhere');

  // A prerequisite: beta-banner (off in production) must be on.
  await vprod.getByLabel('Requires flag').fill('beta-banner');
  await vprod.getByRole('button', { name: 'Add prerequisite' }).click();
  await vprod.locator('ul.prereqs li', { hasText: 'beta-banner on' }).waitFor();
  const blocked = await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'NZ' }, (r) => r.reason === 'PREREQUISITE_FAILED');
  check(blocked.value === 'blue' && blocked.reason === 'PREREQUISITE_FAILED', `parent off: ${JSON.stringify(blocked)}`);
  const parent = (await api('GET', `/v1/flags?project_id=${pid}&q=beta-banner`, auth)).json.flags[0];
  check((await api('PATCH', `/v1/flags/${parent.id}/state?project_id=${pid}`, auth, { environment: 'production', enabled: true })).status === 200, 'beta-banner on');
  const unblocked = await ofrepUntil(sdkKey, 'banner-color', { targetingKey: 'user-1', plan: 'free', country: 'NZ' }, (r) => r.value === 'green');
  check(unblocked.value === 'green', `parent on: ${JSON.stringify(unblocked)}`);
  await shot(a, 'flag-variants');
  step(`OFREP: ${blocked.reason} while beta-banner is off, green once it is on`);

  // Variants being edited here and changed by a script: the page says so.
  await a.getByLabel('Note on variant 1').fill('the classic');
  check((await api('PUT', `/v1/flags/${vflag.id}?project_id=${pid}`, auth, { variants: [
    { key: 'red', value: 'red', description: 'set by a script' }, { key: 'green', value: 'green' }, { key: 'blue', value: 'blue' }] })).status === 200, 'PUT variants');
  await a.getByText('The variants were changed by someone else').waitFor();
  await a.getByRole('button', { name: 'Show theirs' }).click();
  check(await a.getByLabel('Note on variant 1').inputValue() === 'set by a script', 'their variants are shown');
  step('an edit of the variants was told of a change underneath');

  // Segments: edit one; one in use cannot go; an unused one can.
  await a.getByRole('link', { name: 'Segments' }).click();
  await a.getByRole('button', { name: 'Edit segment kiwis' }).click();
  const segEdit = a.locator('form[aria-label="Edit segment kiwis"]');
  await segEdit.getByLabel('Description').fill('Only New Zealand');
  await segEdit.getByRole('button', { name: 'Save segment' }).click();
  await a.locator('tr[data-segment="kiwis"]', { hasText: 'Only New Zealand' }).waitFor();
  expectRefusal(400, /\/v1\/segments\/kiwis/);
  await a.getByRole('button', { name: 'Delete segment kiwis' }).click();
  await a.getByText('remove it from the rule first').waitFor();
  await a.locator('form[aria-label="New segment"]').getByLabel('Name').fill('short-lived');
  await a.getByRole('button', { name: 'Create segment' }).click();
  await a.getByRole('button', { name: 'Delete segment short-lived' }).click();
  await a.locator('tr[data-segment="short-lived"]').waitFor({ state: 'detached' });
  check((await api('GET', `/v1/segments?project_id=${pid}`, auth)).json.segments.map((x) => x.name).join() === 'kiwis', 'only kiwis is left');
  step('segment edited; the one in use refused deletion, an unused one deleted');

  // A live reload that fails is shown, not swallowed: Dan's page follows
  // the project while he is taken off it, so its reload is refused for
  // real; what it shows stays, with a notice, until a reload succeeds.
  const dan = `dan-${Date.now()}@example.com`;
  check((await api('POST', '/auth/register', '', { email: dan, password })).status === 201, 'sign up Dan');
  check((await api('POST', '/v1/members', auth, { project_id: pid, email: dan, role: 'write' })).status === 201, 'Dan joins');
  const d = await newPage(browser, { width: 1280, height: 900 }, 'D');
  await d.goto(`${base}/ui/`);
  await d.getByLabel('Email').fill(dan);
  await d.getByLabel('Password').fill(password);
  await d.getByRole('button', { name: 'Sign in' }).click();
  await d.getByRole('link', { name: 'shop' }).click();
  await d.getByRole('heading', { name: 'Flags of shop' }).waitFor();
  await d.waitForFunction(() => document.body.dataset.live === 'on');
  const danId = (await api('GET', `/v1/members?project_id=${pid}`, auth)).json.members.find((m) => m.email === dan).id;
  const darkId = (await api('GET', `/v1/flags?project_id=${pid}&q=dark-mode`, auth)).json.flags[0].id;
  let darkOn = true;
  const toggleDark = async () => {
    darkOn = !darkOn;
    const r = await api('PATCH', `/v1/flags/${darkId}/state?project_id=${pid}`, auth, { environment: 'production', enabled: darkOn });
    check(r.status === 200, `toggle dark-mode: ${r.status}`);
  };
  const notice = d.locator('#live[data-reload="failed"]');
  const rowsBefore = await d.locator('tr[data-flag]').count();
  check((await api('DELETE', `/v1/members/${danId}?project_id=${pid}`, auth)).status === 204, 'Dan removed');
  expectRefusal(403, /\/v1\/flags\?/);
  expectRefusal(404, /\/v1\/flags\?/);
  for (let i = 0; i < 50 && !(await notice.count()); i++) {
    await toggleDark();
    await d.waitForTimeout(300);
  }
  await notice.waitFor();
  const said = await notice.textContent();
  check(/could not be refreshed/.test(said), `the notice: ${said}`);
  const refused = await api('GET', `/v1/flags?project_id=${pid}`, `Bearer ${(await d.evaluate(() => JSON.parse(sessionStorage.getItem('vexil.credential')))).value}`);
  check(refused.status >= 400 && said.includes(refused.json.error.message), `the server's message (${JSON.stringify(refused.json)}) in: ${said}`);
  check(await d.locator('tr[data-flag]').count() === rowsBefore, 'what was shown stays');
  await shot(d, 'reload-failed');
  step(`a failed live reload is shown: ${said}`);
  // Back on the project: the next change's reload succeeds, and the notice goes.
  check((await api('POST', '/v1/members', auth, { project_id: pid, email: dan, role: 'write' })).status === 201, 'Dan back');
  for (let i = 0; i < 50 && (await notice.count()); i++) {
    await toggleDark();
    await d.waitForTimeout(300);
  }
  await notice.waitFor({ state: 'detached' });
  await d.waitForFunction((on) => {
    const x = document.querySelector('tr[data-flag="dark-mode"] input[type="checkbox"]');
    return x && x.checked === on;
  }, darkOn);
  check(await d.locator('#live').textContent() === '', 'the notice is gone');
  step('the next reload succeeded and cleared the notice');

  // A phone-sized screen.
  await a.setViewportSize({ width: 390, height: 844 });
  await a.getByRole('link', { name: 'Flags', exact: true }).click();
  await a.getByRole('heading', { name: 'Flags of shop' }).waitFor();
  await shot(a, 'flags-phone');
  const wide = await a.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `the phone layout scrolls sideways (${wide} px)`);

  // An expired or refused token: back to sign-in, with a message.
  expectRefusal(401, /\/v1\/projects$/);
  await a.evaluate(() => sessionStorage.setItem('vexil.credential',
    JSON.stringify({ kind: 'token', value: 'eyJhbGciOiJIUzI1NiJ9.e30.expired', email: 'x' })));
  await a.reload();
  await a.getByRole('heading', { name: 'Sign in to Vexil' }).waitFor();
  await a.getByText('Signed out:').waitFor();
  step('a refused token returns to sign-in with a message');

  assertClean();
  console.log('ui ok');
} catch (e) {
  console.error(`ui: ${e.stack || e.message}`);
  // What the page showed when it failed.
  if (pageA) await shot(pageA, 'failure').catch(() => {});
  failed = true;
} finally {
  if (browser) await browser.close();
}
process.exit(failed ? 1 : 0);
