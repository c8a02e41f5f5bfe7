// Vexil: drives the admin UI's teams pages (members, protected
// environments, the change-request queue; docs/teams.md) in headless
// Chromium, as three people would, against a real gateway and vexild.
//
//   node web/tests/ui-teams.mjs http://127.0.0.1:PORT OUTDIR
//
// Ann shares a project with Bob (write) and Cat (read) on the members
// page (a user who never signed up is refused next to the email field),
// protects production on the environments page, Bob's toggle in
// production opens a change request (the UI shows its number, the flag
// stays off, OFREP still serves off), Ann approves it in the queue after
// reading its before/after, and OFREP serves the change; Cat (read) is
// offered no approval, and the gateway refuses hers; she comments; Bob
// withdraws his next request. Throughout: no unexpected console error, no
// script error, no request leaving the gateway. One screenshot per screen
// goes to OUTDIR (teams-*.png). Prints "ui-teams ok" and exits 0 on
// success. Run by the ctest entry `ui` (tests/gateway/test_openapi.c).
import { chromium } from 'playwright-core';
import { browserKit } from './browser.mjs';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: ui-teams.mjs BASE_URL OUTDIR');
  process.exit(2);
}
const CHROMIUM = process.env.VX_CHROMIUM || '/usr/bin/chromium';
const stamp = Date.now();
const ann = `ann-${stamp}@example.com`, bob = `bob-${stamp}@example.com`, cat = `cat-${stamp}@example.com`;
const password = 'correct-horse-battery';

const { newPage: openPage, shot, api, expectRefusal, assertClean } = browserKit(base, outDir, 'teams');
function step(s) {
  console.log(`- ${s}`);
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}
function newPage(browser, name) {
  return openPage(browser, { width: 1280, height: 900 }, name);
}

async function signIn(page, email) {
  await page.goto(`${base}/ui/`);
  await page.getByRole('heading', { name: 'Sign in to Vexil' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
  const cred = JSON.parse(await page.evaluate(() => sessionStorage.getItem('vexil.credential')));
  return `Bearer ${cred.value}`;
}

async function production(sdkKey) {
  const r = await api('POST', '/ofrep/v1/evaluate/flags/launch', `Bearer ${sdkKey}`,
    { context: { targetingKey: 'u-1', environment: 'production' } });
  check(r.status === 200, `OFREP: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.value;
}

let browser, failed = false;
try {
  for (const email of [ann, bob, cat])
    check((await api('POST', '/auth/register', '', { email, password })).status === 201, `sign up ${email}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });

  // Ann: a project with a flag, off everywhere.
  const a = await newPage(browser, 'Ann');
  const annAuth = await signIn(a, ann);
  await a.getByLabel('Name').fill('team');
  await a.getByRole('button', { name: 'Create project' }).click();
  await a.getByRole('heading', { name: 'Flags of team' }).waitFor();
  const pid = a.url().match(/#\/p\/([^/]+)\//)[1];
  check((await api('POST', '/v1/flags', annAuth, { project_id: pid, key: 'launch' })).status === 201, 'create launch');
  const sdkKey = (await api('GET', '/v1/projects', annAuth)).json.projects.find((p) => p.id === pid).sdk_key;
  check(await production(sdkKey) === false, 'launch starts off');

  // The members page: a stranger is refused next to the email field.
  await a.getByRole('link', { name: 'Members' }).click();
  await a.getByRole('heading', { name: 'Members of team' }).waitFor();
  await a.locator(`tr[data-member="${ann}"]`).waitFor();
  const email = a.getByLabel('Email of a user who has signed up');
  expectRefusal(404, /\/v1\/members$/);
  expectRefusal(400, /\/v1\/members$/);
  await email.fill(`nobody-${stamp}@example.com`);
  await a.getByRole('button', { name: 'Add member' }).click();
  await a.locator('input[name="email"][aria-invalid="true"]').waitFor();
  step(`a stranger refused next to the email: ${await a.locator('#main form .err:not(:empty)').first().textContent()}`);
  await email.fill(bob);
  await a.getByLabel('Role', { exact: true }).selectOption('write');
  await a.getByRole('button', { name: 'Add member' }).click();
  await a.locator(`tr[data-member="${bob}"]`).waitFor();
  // Cat is added with write, then set to read on her row.
  await email.fill(cat);
  await a.getByLabel('Role', { exact: true }).selectOption('write');
  await a.getByRole('button', { name: 'Add member' }).click();
  await a.locator(`tr[data-member="${cat}"]`).waitFor();
  await a.getByLabel(`Role of ${cat}`).selectOption('read');
  await a.waitForFunction((c) => {
    const s = document.querySelector(`tr[data-member="${c}"] select`);
    return s && s.value === 'read';
  }, cat);
  // The select shows the choice at once; its PATCH may still be on its
  // way, so the API is asked until it has landed (bounded).
  const want = `${ann}:admin ${bob}:write ${cat}:read`;
  let members = [];
  for (let i = 0; i < 100; i++) {
    members = (await api('GET', `/v1/members?project_id=${pid}`, annAuth)).json.members;
    if (members.map((m) => `${m.email}:${m.role}`).join(' ') === want) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  check(members.map((m) => `${m.email}:${m.role}`).join(' ') === want,
    `members: ${JSON.stringify(members)}`);
  await shot(a, 'members');
  step('Bob (write) and Cat (read) added on the members page');

  // Ann protects production.
  await a.getByRole('link', { name: 'Environments and keys' }).click();
  await a.getByRole('heading', { name: 'Environments and keys of team' }).waitFor();
  await a.getByLabel('Protect production').check();
  await a.waitForFunction(() => {
    const x = document.querySelector('input[aria-label="Protect production"]');
    return x && x.checked && !x.disabled;
  });
  const envs = (await api('GET', `/v1/environments?project_id=${pid}`, annAuth)).json.environments;
  check(envs.find((e) => e.key === 'production').protected === true, `production protected: ${JSON.stringify(envs)}`);
  check(envs.find((e) => e.key === 'staging').protected === false, 'staging is not');
  await shot(a, 'protected');
  step('production protected');

  // Bob sees the shared project; his toggle in production opens a request.
  const b = await newPage(browser, 'Bob');
  const bobAuth = await signIn(b, bob);
  await b.getByRole('link', { name: 'team' }).click();
  await b.getByRole('heading', { name: 'Flags of team' }).waitFor();
  check(await b.getByLabel('Environment', { exact: true }).inputValue() === 'production', 'the list shows production');
  expectRefusal(400, /\/v1\/flags\/[^/]+\/state/);
  // The box reverts: the change was not made.
  await b.locator('tr[data-flag="launch"] input[type="checkbox"]').click();
  const held = b.locator('tr[data-flag="launch"] .held');
  await held.waitFor();
  const number = Number(await held.getAttribute('data-change'));
  check(number > 0 && (await held.textContent()).includes(`Change request #${number} opened`), `the notice: ${await held.textContent()}`);
  await b.waitForFunction(() => !document.querySelector('tr[data-flag="launch"] input[type="checkbox"]').checked);
  check(await production(sdkKey) === false, 'held: production still serves off');
  await shot(b, 'held');
  step(`Bob's toggle opened change request #${number}`);

  // Ann reviews it: the before/after of production's state, then approves.
  await a.getByRole('link', { name: 'Change requests' }).click();
  await a.getByRole('heading', { name: 'Change requests of team' }).waitFor();
  const card = a.locator(`section[data-change="${number}"]`);
  await card.waitFor();
  const row = card.locator('tr[data-field="production.enabled"]');
  check((await row.locator('del').textContent()) === 'off' && (await row.locator('ins').textContent()) === 'on',
    `diff: ${await row.textContent()}`);
  check((await card.textContent()).includes(bob), 'the card names its author');
  await shot(a, 'queue');
  await card.getByRole('button', { name: 'Approve' }).click();
  await a.getByText(`Change request #${number} approved and made.`).waitFor();
  await a.getByText('No open change requests.').waitFor();
  check(await production(sdkKey) === true, 'approved: OFREP serves on in production');
  step('Ann approved it in the queue; OFREP serves the change');

  // Bob proposes switching it off again; Cat (read) may only comment.
  const again = await api('PATCH', `/v1/flags/${(await api('GET', `/v1/flags?project_id=${pid}&q=launch`, bobAuth)).json.flags[0].id}/state?project_id=${pid}`,
    bobAuth, { environment: 'production', enabled: false });
  const m = /^change request (\d+) opened/.exec(again.json.error.message);
  check(again.status === 400 && m, `held again: ${JSON.stringify(again.json)}`);
  const second = Number(m[1]);
  const c = await newPage(browser, 'Cat');
  const catAuth = await signIn(c, cat);
  await c.goto(`${base}/ui/#/p/${pid}/changes`);
  const catCard = c.locator(`section[data-change="${second}"]`);
  await catCard.waitFor();
  await catCard.getByText('Your role is read').waitFor();
  check(await catCard.getByRole('button', { name: 'Approve' }).count() === 0, 'no Approve for a read member');
  check(await catCard.getByRole('button', { name: 'Reject' }).count() === 0, 'no Reject for a read member');
  const refused = await api('POST', `/v1/change-requests/change-${second}/approve?project_id=${pid}`, catAuth);
  check(refused.status === 403, `Cat's approval: ${refused.status} ${JSON.stringify(refused.json)}`);
  await catCard.getByLabel('Comment').fill('Why off again?');
  await catCard.getByRole('button', { name: 'Comment' }).click();
  await catCard.locator('ul.comments li', { hasText: 'Why off again?' }).waitFor();
  await shot(c, 'read-member');
  check(await production(sdkKey) === true, 'still on');
  step('Cat (read) could comment, not approve (403 from the gateway too)');

  // Bob withdraws his own request in the queue.
  await b.goto(`${base}/ui/#/p/${pid}/changes`);
  const bobCard = b.locator(`section[data-change="${second}"]`);
  await bobCard.waitFor();
  check(await bobCard.getByRole('button', { name: 'Approve' }).count() === 0, 'no Approve of one\'s own request');
  await bobCard.locator('ul.comments li', { hasText: 'Why off again?' }).waitFor();
  await bobCard.getByRole('button', { name: 'Withdraw' }).click();
  await b.getByText(`Change request #${second} withdrawn.`).waitFor();
  check((await api('GET', `/v1/change-requests?project_id=${pid}`, annAuth)).json.change_requests.length === 0, 'none open');
  step('Bob withdrew his second request');

  // The audit log tells the story with the emails.
  const audit = (await api('GET', `/v1/audit?project_id=${pid}&limit=100`, annAuth)).json.entries;
  for (const [kind, who] of [['CHANGE_REQUESTED', bob], ['CHANGE_APPROVED', ann], ['CHANGE_COMMENTED', cat], ['CHANGE_WITHDRAWN', bob]])
    check(audit.some((e) => e.kind === kind && e.actor.includes(`(${who})`)), `audit ${kind} by ${who}`);

  assertClean();
  console.log('ui-teams ok');
} catch (e) {
  console.error(`ui-teams: ${e.stack || e.message}`);
  failed = true;
} finally {
  if (browser) await browser.close();
}
process.exit(failed ? 1 : 0);
