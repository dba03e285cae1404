import { describe, expect, test } from 'vitest';
import { context, evaluate, policyProblem, wildcardMatch, type PolicyDocument } from '../../src/sandbox/policy.js';

const doc = (...Statement: PolicyDocument['Statement'][]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: Statement.flat(),
});
const req = (action: string, resource = '*', ctx: Record<string, string | string[]> = {}) => ({
  action,
  resource,
  context: context(ctx),
});

describe('policy evaluator', () => {
  test('explicit deny beats allow; nothing matching is an implicit deny', () => {
    const p = doc([
      { Effect: 'Allow', Action: 'ses:*', Resource: '*' },
      { Effect: 'Deny', Action: 'ses:DeleteEmailIdentity', Resource: '*' },
    ]);
    expect(evaluate([p], req('ses:SendEmail')).decision).toBe('allowed');
    expect(evaluate([p], req('SES:sendemail')).decision).toBe('allowed'); // actions are case-insensitive
    expect(evaluate([p], req('ses:DeleteEmailIdentity')).decision).toBe('explicitDeny');
    expect(evaluate([p], req('sts:AssumeRole')).decision).toBe('implicitDeny');
  });

  test('NotAction, resource wildcards and NotResource', () => {
    const p = doc([
      { Effect: 'Allow', NotAction: 'iam:*', Resource: 'arn:aws:ses:*:222222222222:identity/*.example.com' },
      { Effect: 'Allow', Action: 's3:GetObject', NotResource: 'arn:aws:s3:::secret/*' },
    ]);
    expect(
      evaluate([p], req('ses:SendEmail', 'arn:aws:ses:us-east-1:222222222222:identity/mail.example.com')).decision,
    ).toBe('allowed');
    expect(
      evaluate([p], req('ses:SendEmail', 'arn:aws:ses:us-east-1:333333333333:identity/mail.example.com')).decision,
    ).toBe('implicitDeny');
    expect(
      evaluate([p], req('iam:GetRole', 'arn:aws:ses:us-east-1:222222222222:identity/mail.example.com')).decision,
    ).toBe('implicitDeny');
    expect(evaluate([p], req('s3:GetObject', 'arn:aws:s3:::public/a')).decision).toBe('allowed');
    expect(evaluate([p], req('s3:GetObject', 'arn:aws:s3:::secret/a')).decision).toBe('implicitDeny');
  });

  test('StringEquals, StringLike, StringNotEquals, missing keys', () => {
    const p = doc({
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Condition: { StringEquals: { 'sts:ExternalId': 'abc' } },
    });
    expect(evaluate([p], req('sts:AssumeRole', '*', { 'sts:ExternalId': 'abc' })).decision).toBe('allowed');
    expect(evaluate([p], req('sts:AssumeRole', '*', { 'sts:externalid': 'abc' })).decision).toBe('allowed'); // keys case-insensitive
    expect(evaluate([p], req('sts:AssumeRole', '*', { 'sts:ExternalId': 'ABC' })).decision).toBe('implicitDeny');
    expect(evaluate([p], req('sts:AssumeRole')).decision).toBe('implicitDeny');
    const not = doc({
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { StringNotEquals: { 'aws:RequestedRegion': 'eu-west-1' } },
    });
    expect(evaluate([not], req('ses:SendEmail', '*', { 'aws:RequestedRegion': 'us-east-1' })).decision).toBe(
      'explicitDeny',
    );
    expect(evaluate([not], req('ses:SendEmail', '*', { 'aws:RequestedRegion': 'eu-west-1' })).decision).toBe(
      'implicitDeny',
    );
    // A negated operator on an absent key matches.
    expect(evaluate([not], req('ses:SendEmail')).decision).toBe('explicitDeny');
  });

  test('SES condition keys with set qualifiers', () => {
    const p = doc({
      Effect: 'Allow',
      Action: 'ses:SendEmail',
      Resource: '*',
      Condition: {
        StringLike: { 'ses:FromAddress': ['*@example.com', '*@example.org'] },
        'ForAllValues:StringLike': { 'ses:Recipients': ['*@customer.test'] },
      },
    });
    const ok = { 'ses:FromAddress': 'a@example.org', 'ses:Recipients': ['x@customer.test', 'y@customer.test'] };
    expect(evaluate([p], req('ses:SendEmail', '*', ok)).decision).toBe('allowed');
    expect(evaluate([p], req('ses:SendEmail', '*', { ...ok, 'ses:FromAddress': 'a@evil.test' })).decision).toBe(
      'implicitDeny',
    );
    expect(
      evaluate([p], req('ses:SendEmail', '*', { ...ok, 'ses:Recipients': ['x@customer.test', 'z@other.test'] }))
        .decision,
    ).toBe('implicitDeny');
    const any = doc({
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { 'ForAnyValue:StringLike': { 'ses:Recipients': '*@blocked.test' } },
    });
    expect(
      evaluate([any], req('ses:SendEmail', '*', { 'ses:Recipients': ['a@ok.test', 'b@blocked.test'] })).decision,
    ).toBe('explicitDeny');
    expect(evaluate([any], req('ses:SendEmail')).decision).toBe('implicitDeny');
  });

  test('Bool, Null, dates (the revoke-older-sessions deny), IfExists, numeric', () => {
    const revoke = doc({
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateLessThan: { 'aws:TokenIssueTime': '2026-01-01T00:00:00Z' } },
    });
    expect(
      evaluate([revoke], req('ses:SendEmail', '*', { 'aws:TokenIssueTime': '2025-12-31T23:59:59Z' })).decision,
    ).toBe('explicitDeny');
    expect(
      evaluate([revoke], req('ses:SendEmail', '*', { 'aws:TokenIssueTime': '2026-01-01T00:00:01Z' })).decision,
    ).toBe('implicitDeny');
    const b = doc({
      Effect: 'Allow',
      Action: '*',
      Resource: '*',
      Condition: { Bool: { 'aws:SecureTransport': 'true' }, Null: { 'sts:SourceIdentity': 'false' } },
    });
    expect(evaluate([b], req('x:y', '*', { 'aws:SecureTransport': 'true', 'sts:SourceIdentity': 'me' })).decision).toBe(
      'allowed',
    );
    expect(evaluate([b], req('x:y', '*', { 'aws:SecureTransport': 'true' })).decision).toBe('implicitDeny');
    const ie = doc({
      Effect: 'Allow',
      Action: '*',
      Resource: '*',
      Condition: { StringEqualsIfExists: { 'aws:RequestTag/team': 'mail' }, NumericLessThanEquals: { 'x:n': '5' } },
    });
    expect(evaluate([ie], req('a:b', '*', { 'x:n': '5' })).decision).toBe('allowed');
    expect(evaluate([ie], req('a:b', '*', { 'x:n': '6' })).decision).toBe('implicitDeny');
    expect(evaluate([ie], req('a:b', '*', { 'x:n': '1', 'aws:RequestTag/team': 'web' })).decision).toBe('implicitDeny');
  });

  test('principals in trust policies', () => {
    const trust = doc({
      Effect: 'Allow',
      Principal: { AWS: ['arn:aws:iam::111111111111:user/sesame-platform', '333333333333'] },
      Action: 'sts:AssumeRole',
    });
    const check = (arn: string, account: string, roleArn?: string) =>
      evaluate(
        [trust],
        {
          ...req('sts:AssumeRole', 'arn:aws:iam::222222222222:role/R'),
          principal: { arn, account, ...(roleArn ? { roleArn } : {}) },
        },
        { checkPrincipal: true },
      ).decision;
    expect(check('arn:aws:iam::111111111111:user/sesame-platform', '111111111111')).toBe('allowed');
    expect(check('arn:aws:iam::111111111111:user/other', '111111111111')).toBe('implicitDeny');
    expect(check('arn:aws:iam::333333333333:user/anyone', '333333333333')).toBe('allowed');
    const roleTrust = doc({
      Effect: 'Allow',
      Principal: { AWS: 'arn:aws:iam::111111111111:role/task' },
      Action: 'sts:AssumeRole',
    });
    expect(
      evaluate(
        [roleTrust],
        {
          ...req('sts:AssumeRole'),
          principal: {
            arn: 'arn:aws:sts::111111111111:assumed-role/task/s',
            account: '111111111111',
            roleArn: 'arn:aws:iam::111111111111:role/task',
          },
        },
        { checkPrincipal: true },
      ).decision,
    ).toBe('allowed');
  });

  test('wildcards and validation', () => {
    expect(wildcardMatch('a*c?', 'abbbcd')).toBe(true);
    expect(wildcardMatch('a.c', 'abc')).toBe(false);
    expect(policyProblem({ Statement: [{ Effect: 'Allow', Action: '*' }] })).toMatch(/resources/);
    expect(policyProblem({ Statement: [{ Effect: 'Maybe', Action: '*', Resource: '*' }] })).toMatch(/effect/i);
    expect(policyProblem({ Statement: { Effect: 'Allow', Action: 'sts:AssumeRole' } }, { trust: true })).toMatch(
      /principal/,
    );
    expect(policyProblem({ Statement: { Effect: 'Allow', Action: '*', Resource: '*' } })).toBeUndefined();
  });
});
