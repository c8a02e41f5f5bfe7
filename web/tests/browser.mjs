// Vexil: what the browser tests of the admin UI share (ui.mjs,
// ui-teams.mjs): pages that may call only the gateway and that record
// every console and script error except the refusals a test provokes on
// purpose, full-page screenshots, and a plain HTTP client for the APIs.
export function browserKit(base, outDir, shotPrefix) {
  const offBox = [], problems = [];
  // Refusals the test provokes on purpose: Chromium logs each failed
  // request as a console error; these (and only these) are expected.
  const expected = [];
  return {
    offBox,
    problems,
    expectRefusal(status, path) {
      expected.push({ status, path });
    },
    async newPage(browser, viewport, name) {
      const ctx = await browser.newContext({ viewport });
      const page = await ctx.newPage();
      page.setDefaultTimeout(20000);
      // Every request must go to the gateway itself.
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(base + '/') || url.startsWith('data:')) return route.continue();
        offBox.push(url);
        return route.abort();
      });
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const url = m.location().url || '';
        if (expected.some((x) => m.text().includes(`status of ${x.status}`) && x.path.test(url))) return;
        problems.push(`${name} console: ${m.text()} (${url})`);
      });
      page.on('pageerror', (e) => problems.push(`${name} script: ${e}`));
      return page;
    },
    async shot(page, name) {
      await page.screenshot({ path: `${outDir}/${shotPrefix}-${name}.png`, fullPage: true });
    },
    async api(method, path, auth, body) {
      const res = await fetch(base + path, {
        method, headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
    },
    // Throws unless the pages stayed clean.
    assertClean() {
      if (problems.length) throw new Error(`errors in the page:\n${problems.join('\n')}`);
      if (offBox.length) throw new Error(`requests off the gateway: ${offBox.join(', ')}`);
    },
  };
}
