import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, type Harness, startHarness } from '../helpers/harness.js';
import { skippable } from '../helpers/skip.js';

/**
 * The one-click flow as a person does it: open the quick-create link in a real browser, tick the
 * IAM acknowledgement, press Create stack, copy the RoleArn, finish the connection.
 */
const CHROMIUM = '/usr/bin/chromium';
let browser: Browser;
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  if (existsSync(CHROMIUM)) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const noChromium = existsSync(CHROMIUM) ? null : `Chromium is not at ${CHROMIUM} (apt-get install -y chromium)`;
describe.skipIf(noChromium)(skippable('quick-create link in a browser', noChromium), () => {
  it('creates the role from the link and the connection then passes its test', async () => {
    const created = (
      await h.call('POST', '/v1/connections', {
        name: 'web',
        region: 'eu-west-1',
        mode: 'role',
        sendDomains: ['example.com'],
      })
    ).json;
    const page = await browser.newPage();
    await page.goto(created.onboarding.quickCreateUrl);
    await page.waitForSelector('#form:not([hidden])');
    expect(await page.inputValue('#stackName')).toBe('Sesame-web');
    expect(await page.textContent('body')).toContain('not AWS');
    // Without the acknowledgement the browser refuses to submit.
    await page.click('#create');
    expect(await page.isHidden('#result')).toBe(true);
    await page.check('#ack');
    await page.click('#create');
    await page.waitForSelector('#result:not([hidden])');
    const roleArn = (await page.textContent('#roleArn'))!.trim();
    expect(roleArn).toBe('arn:aws:iam::222222222222:role/SesameSES-web');
    await page.close();

    await h.call('PATCH', `/v1/connections/${created.id}`, { roleArn });
    const report = (await h.call('POST', `/v1/connections/${created.id}/test`)).json;
    expect(check(report, 'role_assumable')?.status).toBe('pass');
    expect(check(report, 'external_id_required')?.status).toBe('pass');
    expect(check(report, 'permissions_send')?.status).toBe('pass');
  });
});
