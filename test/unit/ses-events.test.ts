import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSesEvent } from '../../src/modules/events/parse.js';

const dir = join(import.meta.dirname, '..', 'fixtures', 'ses-events');
const fixture = (name: string) => readFileSync(join(dir, name), 'utf8');

describe('SES event records (both formats)', () => {
  const expected: Record<string, string> = {
    'event-bounce.json': 'bounce',
    'event-bounce-transient.json': 'bounce',
    'event-complaint.json': 'complaint',
    'event-delivery.json': 'delivery',
    'event-send.json': 'send',
    'event-reject.json': 'reject',
    'event-open.json': 'open',
    'event-click.json': 'click',
    'event-rendering-failure.json': 'rendering_failure',
    'event-delivery-delay.json': 'delivery_delay',
    'event-subscription.json': 'subscription',
    'notification-bounce.json': 'bounce',
    'notification-complaint.json': 'complaint',
    'notification-delivery.json': 'delivery',
  };
  it('has a fixture for every type', () => {
    expect(readdirSync(dir).sort()).toEqual(Object.keys(expected).sort());
  });
  for (const [name, kind] of Object.entries(expected)) {
    it(`parses ${name}`, () => {
      const r = parseSesEvent(fixture(name));
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (!r.ok) return;
      expect(r.event.kind).toBe(kind);
      expect(r.event.format).toBe(name.startsWith('event') ? 'event_publishing' : 'notification');
      expect(r.event.sesMessageId).toBe('0100018e1a2b3c4d-11111111-2222-3333-4444-555555555555-000000');
      expect(r.event.recipients).toEqual(['recipient@example.org']);
      expect(Date.parse(r.event.occurredAt)).toBeGreaterThan(0);
    });
  }

  it('reads the bounce, the message id header, and the details per type', () => {
    const b = parseSesEvent(fixture('event-bounce.json'));
    expect(b.ok && b.event).toMatchObject({
      sesameMessageId: 'msg_01fixture0000000000000000',
      bounce: {
        type: 'Permanent',
        subType: 'General',
        recipients: [{ email: 'recipient@example.org', status: '5.1.1' }],
      },
    });
    const t = parseSesEvent(fixture('event-bounce-transient.json'));
    expect(t.ok && t.event.bounce?.type).toBe('Transient');
    const d = parseSesEvent(fixture('notification-delivery.json'));
    expect(d.ok && d.event.sesameMessageId).toBeNull();
    const c = parseSesEvent(fixture('event-click.json'));
    expect(c.ok && c.event.click?.link).toBe('https://example.com/offer');
  });

  it('reports what is not an SES event, an unknown type or a malformed record, never throwing', () => {
    expect(parseSesEvent('hello')).toMatchObject({ ok: false, reason: 'not_ses' });
    expect(parseSesEvent('{"AlarmName":"x"}')).toMatchObject({ ok: false, reason: 'not_ses' });
    expect(parseSesEvent(JSON.stringify({ eventType: 'Teleport', mail: {} }))).toMatchObject({
      ok: false,
      reason: 'unknown_type',
    });
    const broken = JSON.parse(fixture('event-bounce.json'));
    delete broken.bounce.bouncedRecipients;
    expect(parseSesEvent(JSON.stringify(broken))).toMatchObject({ ok: false, reason: 'invalid' });
    const noId = JSON.parse(fixture('event-send.json'));
    delete noId.mail.messageId;
    expect(parseSesEvent(JSON.stringify(noId))).toMatchObject({ ok: false, reason: 'invalid' });
  });
});
