import {
  CreateConfigurationSetCommand,
  CreateEmailIdentityCommand,
  DeleteEmailIdentityCommand,
  GetAccountCommand,
  GetEmailIdentityCommand,
  ListConfigurationSetsCommand,
  ListEmailIdentitiesCommand,
  PutEmailIdentityMailFromAttributesCommand,
  SendEmailCommand,
  type SendEmailCommandInput,
} from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { EXTERNAL_ID, ROLE_TEMPLATE, rejectsWith, startSandbox, type Creds, type Harness } from './helpers.js';

let h: Harness;
let creds: Creds;

beforeAll(async () => {
  h = await startSandbox();
  const roleArn = h.sandbox.admin.deployTemplate({
    templateBody: ROLE_TEMPLATE,
    stackName: 'sesame',
    parameters: {
      ExternalId: EXTERNAL_ID,
      TrustedPrincipalArn: 'arn:aws:iam::111111111111:user/sesame-platform',
      SendFromDomains: 'example.com',
    },
    capabilities: ['CAPABILITY_NAMED_IAM'],
  }).outputs['RoleArn']!;
  creds = await h.assume({ RoleArn: roleArn, ExternalId: EXTERNAL_ID });
  h.sandbox.admin.verifyIdentity('example.com');
  h.sandbox.admin.verifyIdentity('friend@example.net');
});
afterAll(() => h.sandbox.close());
beforeEach(() => {
  // One second between tests keeps the sandbox MaxSendRate window clear.
  h.clock.advance(1_000);
  h.sandbox.admin.setAccount({
    productionAccessEnabled: false,
    max24HourSend: 200,
    maxSendRate: 1,
    sendingEnabled: true,
    enforcementStatus: 'HEALTHY',
  });
});

const simple = (over: Partial<SendEmailCommandInput> = {}): SendEmailCommandInput => ({
  FromEmailAddress: '"Shop" <news@example.com>',
  Destination: { ToAddresses: ['friend@example.net'] },
  Content: {
    Simple: {
      Subject: { Data: 'Hello' },
      Body: { Text: { Data: 'plain' }, Html: { Data: '<p>html</p>' } },
      Headers: [{ Name: 'X-Sesame-Message-Id', Value: 'msg_1' }],
    },
  },
  ConfigurationSetName: undefined,
  EmailTags: [{ Name: 'campaign', Value: 'c1' }],
  ...over,
});

describe('SES v2', () => {
  test('GetAccount reports sandbox defaults and counts recipients sent', async () => {
    h.sandbox.admin.clearMailbox();
    const a = await h.ses(creds).send(new GetAccountCommand({}));
    expect(a).toMatchObject({
      ProductionAccessEnabled: false,
      SendingEnabled: true,
      EnforcementStatus: 'HEALTHY',
      SendQuota: { Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 0 },
    });
    await h.ses(creds).send(
      new SendEmailCommand(
        simple({
          Destination: { ToAddresses: ['friend@example.net'], CcAddresses: ['success@simulator.amazonses.com'] },
        }),
      ),
    );
    expect((await h.ses(creds).send(new GetAccountCommand({}))).SendQuota?.SentLast24Hours).toBe(2);
  });

  test('SendEmail (simple) lands in the mailbox with headers, tags and the sending principal', async () => {
    h.sandbox.admin.clearMailbox();
    const { MessageId } = await h.ses(creds).send(new SendEmailCommand(simple()));
    const [m] = h.sandbox.admin.mailbox();
    expect(m).toMatchObject({
      messageId: MessageId,
      account: '222222222222',
      region: 'us-east-1',
      from: '"Shop" <news@example.com>',
      to: ['friend@example.net'],
      subject: 'Hello',
      text: 'plain',
      html: '<p>html</p>',
      headers: { 'x-sesame-message-id': 'msg_1' },
      tags: { campaign: 'c1' },
      accessKeyId: creds.accessKeyId,
      principalArn: 'arn:aws:sts::222222222222:assumed-role/SesameSending/sesame-test',
    });
  });

  test('SendEmail (raw) parses recipients and subject from the message', async () => {
    h.sandbox.admin.clearMailbox();
    const raw =
      'From: news@example.com\r\nTo: friend@example.net\r\nSubject: Raw one\r\nContent-Type: text/plain\r\n\r\nbody text';
    await h.ses(creds).send(new SendEmailCommand({ Content: { Raw: { Data: Buffer.from(raw) } } }));
    const [m] = h.sandbox.admin.mailbox();
    expect(m).toMatchObject({
      from: 'news@example.com',
      to: ['friend@example.net'],
      subject: 'Raw one',
      text: 'body text',
      raw,
    });
  });

  test('unverified From is MessageRejected with the SES wording', async () => {
    h.sandbox.admin.setAccount({ productionAccessEnabled: true });
    const e = await rejectsWith(
      h.ses(h.platform).send(new SendEmailCommand(simple({ FromEmailAddress: 'a@unverified.test' }))),
      'MessageRejected',
    );
    expect(e.message).toBe(
      'Email address is not verified. The following identities failed the check in region US-EAST-1: a@unverified.test',
    );
  });

  test('the role policy restricts From addresses to the template domains', async () => {
    h.sandbox.admin.verifyIdentity('other.test');
    const e = await rejectsWith(
      h.ses(creds).send(new SendEmailCommand(simple({ FromEmailAddress: 'a@other.test' }))),
      'AccessDeniedException',
    );
    expect(e.message).toMatch(/ses:SendEmail/);
  });

  test('sandbox accounts need verified recipients (simulator excepted); production does not', async () => {
    const e = await rejectsWith(
      h.ses(creds).send(new SendEmailCommand(simple({ Destination: { ToAddresses: ['stranger@else.test'] } }))),
      'MessageRejected',
    );
    expect(e.message).toMatch(/failed the check in region US-EAST-1: stranger@else.test/);
    await h
      .ses(creds)
      .send(new SendEmailCommand(simple({ Destination: { ToAddresses: ['bounce@simulator.amazonses.com'] } })));
    h.clock.advance(1_000);
    h.sandbox.admin.setAccount({ productionAccessEnabled: true });
    await h.ses(creds).send(new SendEmailCommand(simple({ Destination: { ToAddresses: ['stranger@else.test'] } })));
  });

  test('more than 50 recipients is a BadRequestException', async () => {
    h.sandbox.admin.setAccount({ productionAccessEnabled: true });
    const to = Array.from({ length: 51 }, (_, i) => `r${i}@else.test`);
    await rejectsWith(
      h.ses(creds).send(new SendEmailCommand(simple({ Destination: { ToAddresses: to } }))),
      'BadRequestException',
    );
  });

  test('MaxSendRate is enforced per second in sandbox mode only', async () => {
    await h.ses(creds).send(new SendEmailCommand(simple()));
    await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'TooManyRequestsException');
    h.clock.advance(1_000);
    await h.ses(creds).send(new SendEmailCommand(simple()));
    h.sandbox.admin.setAccount({ productionAccessEnabled: true, maxSendRate: 1 });
    await h.ses(creds).send(new SendEmailCommand(simple()));
    await h.ses(creds).send(new SendEmailCommand(simple()));
  });

  test('paused and suspended accounts', async () => {
    h.sandbox.admin.setAccount({ sendingEnabled: false });
    await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'SendingPausedException');
    h.sandbox.admin.setAccount({ sendingEnabled: true, enforcementStatus: 'SHUTDOWN' });
    await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'AccountSuspendedException');
  });

  test('daily quota counts recipients', async () => {
    h.sandbox.admin.clearMailbox();
    h.sandbox.admin.setAccount({ productionAccessEnabled: true, max24HourSend: 1 });
    await h.ses(creds).send(new SendEmailCommand(simple()));
    const e = await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'TooManyRequestsException');
    expect(e.message).toMatch(/Daily message quota/);
  });

  test('identities and configuration sets', async () => {
    const ses = h.ses(creds);
    const created = await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'Mail.Example.com' }));
    expect(created.IdentityType).toBe('DOMAIN');
    expect(created.DkimAttributes?.Tokens).toHaveLength(3);
    for (const t of created.DkimAttributes!.Tokens!) expect(t).toMatch(/^[a-z0-9]{32}$/);
    await rejectsWith(
      ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'mail.example.com' })),
      'AlreadyExistsException',
    );
    const email = await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: 'someone@else.test' }));
    expect(email).toMatchObject({ IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: false });
    const got = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: 'someone@else.test' }));
    expect(got.VerificationStatus).toBe('PENDING');
    h.sandbox.admin.verifyIdentity('someone@else.test');
    expect(
      (await ses.send(new GetEmailIdentityCommand({ EmailIdentity: 'someone@else.test' }))).VerifiedForSendingStatus,
    ).toBe(true);
    const list = await ses.send(new ListEmailIdentitiesCommand({}));
    expect(list.EmailIdentities?.map((i) => i.IdentityName)).toEqual(
      expect.arrayContaining(['example.com', 'mail.example.com', 'someone@else.test']),
    );
    await ses.send(new DeleteEmailIdentityCommand({ EmailIdentity: 'mail.example.com' }));
    await rejectsWith(
      ses.send(new GetEmailIdentityCommand({ EmailIdentity: 'mail.example.com' })),
      'NotFoundException',
    );

    await ses.send(new CreateConfigurationSetCommand({ ConfigurationSetName: 'sesame-events' }));
    expect((await ses.send(new ListConfigurationSetsCommand({}))).ConfigurationSets).toContain('sesame-events');
    await rejectsWith(ses.send(new SendEmailCommand(simple({ ConfigurationSetName: 'missing' }))), 'NotFoundException');
    h.sandbox.admin.clearMailbox();
    await ses.send(new SendEmailCommand(simple({ ConfigurationSetName: 'sesame-events' })));
    expect(h.sandbox.admin.mailbox()[0]?.configurationSet).toBe('sesame-events');
  });

  test('state is per region', async () => {
    const a = await h.ses(creds, 'eu-west-1').send(new GetAccountCommand({}));
    expect(a.SendQuota?.SentLast24Hours).toBe(0);
    await rejectsWith(h.ses(creds, 'eu-west-1').send(new SendEmailCommand(simple())), 'MessageRejected');
  });

  test('fault injection makes the next calls fail, then clears', async () => {
    h.sandbox.admin.setAccount({ productionAccessEnabled: true });
    h.sandbox.admin.inject('ses', 'SendEmail', 'TooManyRequestsException', 2);
    await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'TooManyRequestsException');
    await rejectsWith(h.ses(creds).send(new SendEmailCommand(simple())), 'TooManyRequestsException');
    await h.ses(creds).send(new SendEmailCommand(simple()));
  });

  test('onEmailSent is the extension point for event publishing', async () => {
    h.sandbox.admin.setAccount({ productionAccessEnabled: true });
    const seen: string[] = [];
    const off = h.sandbox.onEmailSent((m) => seen.push(m.messageId));
    const { MessageId } = await h.ses(creds).send(new SendEmailCommand(simple()));
    off();
    expect(seen).toEqual([MessageId]);
  });
});

describe('SES v2 identity verification modes', () => {
  test('immediate: a new identity is verified at once, its MAIL FROM domain too', async () => {
    const s = await startSandbox({ identityVerification: 'immediate' });
    try {
      const c = s.platform;
      const created = await s.ses(c).send(new CreateEmailIdentityCommand({ EmailIdentity: 'fast.example' }));
      expect(created.VerifiedForSendingStatus).toBe(true);
      expect(created.DkimAttributes?.Tokens).toHaveLength(3);
      await s.ses(c).send(
        new PutEmailIdentityMailFromAttributesCommand({
          EmailIdentity: 'fast.example',
          MailFromDomain: 'mail.fast.example',
        }),
      );
      const got = await s.ses(c).send(new GetEmailIdentityCommand({ EmailIdentity: 'fast.example' }));
      expect(got.MailFromAttributes).toMatchObject({
        MailFromDomain: 'mail.fast.example',
        MailFromDomainStatus: 'SUCCESS',
      });
      await rejectsWith(
        s.ses(c).send(
          new PutEmailIdentityMailFromAttributesCommand({
            EmailIdentity: 'fast.example',
            MailFromDomain: 'mail.elsewhere.example',
          }),
        ),
        'BadRequestException',
      );
    } finally {
      await s.sandbox.close();
    }
  });

  test('dns: verified once the DKIM CNAMEs are published in the DNS the sandbox serves', async () => {
    const s = await startSandbox({ serveDns: {} });
    try {
      const c = s.platform;
      const created = await s.ses(c).send(new CreateEmailIdentityCommand({ EmailIdentity: 'slow.example' }));
      expect(created.VerifiedForSendingStatus).toBe(false);
      const tokens = created.DkimAttributes!.Tokens!;
      s.sandbox.admin.dnsAdd(
        tokens.slice(0, 2).map((t) => ({
          name: `${t}._domainkey.slow.example`,
          type: 'CNAME' as const,
          value: `${t}.dkim.amazonses.com`,
        })),
      );
      expect(
        (await s.ses(c).send(new GetEmailIdentityCommand({ EmailIdentity: 'slow.example' }))).VerificationStatus,
      ).toBe('PENDING');
      s.sandbox.admin.dnsAdd(`${tokens[2]}._domainkey.slow.example. 300 IN CNAME ${tokens[2]}.dkim.amazonses.com.`);
      const got = await s.ses(c).send(new GetEmailIdentityCommand({ EmailIdentity: 'slow.example' }));
      expect(got).toMatchObject({
        VerificationStatus: 'SUCCESS',
        VerifiedForSendingStatus: true,
        DkimAttributes: { Status: 'SUCCESS' },
      });
    } finally {
      await s.sandbox.close();
    }
  });
});
