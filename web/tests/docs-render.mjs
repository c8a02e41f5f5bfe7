// Vexil: loads a gateway's /docs (Swagger UI) and /redoc (ReDoc) in headless
// Chromium and checks that every operation of /openapi.json renders, with
// nothing fetched from anywhere but the gateway.
//
//   node web/tests/docs-render.mjs http://127.0.0.1:PORT OUTDIR
//
// Prints "swagger-ui operations=N" and "redoc operations=N" (N counted in the
// rendered page), writes OUTDIR/docs-swagger-ui.png and OUTDIR/docs-redoc.png,
// and exits 0 only when both counts equal the document's. Run by the ctest
// entry `openapi` (tests/gateway/test_openapi.c).
import { chromium } from 'playwright-core';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: docs-render.mjs BASE_URL OUTDIR');
  process.exit(2);
}
const CHROMIUM = process.env.VX_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 60000;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

function countOperations(doc) {
  let n = 0;
  for (const item of Object.values(doc.paths || {}))
    for (const m of METHODS)
      if (item[m]) n++;
  return n;
}

// Every request must go to the gateway itself (or be page-local data).
function guard(page, offBox) {
  return page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/') || url.startsWith('data:') || url.startsWith('blob:'))
      return route.continue();
    offBox.push(url);
    return route.abort();
  });
}

async function render(browser, path, selector, want, shot, scroll) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const offBox = [], errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await guard(page, offBox);
  const res = await page.goto(base + path, { waitUntil: 'load', timeout: TIMEOUT });
  if (!res || res.status() !== 200)
    throw new Error(`${path}: HTTP ${res ? res.status() : 'no response'}`);
  // Rendering is asynchronous (both fetch /openapi.json first): wait until
  // the count stops short of nothing, then until it reaches the document's.
  await page.waitForSelector(selector, { timeout: TIMEOUT });
  try {
    await page.waitForFunction(
      ([sel, n]) => document.querySelectorAll(sel).length >= n, [selector, want],
      { timeout: TIMEOUT });
  } catch (e) {
    // Fall through: the count below says how far it got.
  }
  const got = await page.locator(selector).count();
  // ReDoc opens on the document's introduction: show an operation instead.
  if (scroll && got > 0)
    await page.locator(scroll).first().evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: shot });
  await page.close();
  if (errors.length)
    throw new Error(`${path}: script errors: ${errors.join('; ')}`);
  if (offBox.length)
    throw new Error(`${path}: requests off the gateway: ${offBox.join(', ')}`);
  return got;
}

let browser;
let failed = false;
try {
  const docRes = await fetch(base + '/openapi.json');
  if (docRes.status !== 200)
    throw new Error(`/openapi.json: HTTP ${docRes.status}`);
  const want = countOperations(await docRes.json());
  console.log(`document operations=${want}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  // Swagger UI: one .opblock per operation (tags are expanded by default).
  const swagger = await render(browser, '/docs', '.opblock', want,
    `${outDir}/docs-swagger-ui.png`);
  console.log(`swagger-ui operations=${swagger}`);
  // ReDoc: one section per operation, "operation/<operationId>".
  const redoc = await render(browser, '/redoc', '[data-section-id^="operation/"]', want,
    `${outDir}/docs-redoc.png`, '[data-section-id="operation/plCreateFlag"]');
  console.log(`redoc operations=${redoc}`);
  if (swagger !== want || redoc !== want) {
    console.error(`rendered ${swagger} (Swagger UI) and ${redoc} (ReDoc) of ${want} operations`);
    failed = true;
  }
} catch (e) {
  console.error(`docs-render: ${e.message}`);
  failed = true;
} finally {
  if (browser)
    await browser.close();
}
process.exit(failed ? 1 : 0);
