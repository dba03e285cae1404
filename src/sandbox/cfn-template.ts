import { parse, type CollectionTag, type ScalarTag } from 'yaml';
import { SandboxError } from './errors.js';

/** CloudFormation template parsing: YAML with the short-form intrinsic tags, or JSON. */

export interface ParameterSpec {
  Type?: string;
  Default?: unknown;
  AllowedValues?: unknown[];
  AllowedPattern?: string;
  MinLength?: number | string;
  MaxLength?: number | string;
  MinValue?: number | string;
  MaxValue?: number | string;
  ConstraintDescription?: string;
  Description?: string;
  NoEcho?: boolean | string;
}

export interface ResourceSpec {
  Type?: string;
  Properties?: Record<string, unknown>;
  Condition?: string;
  DependsOn?: string | string[];
}

export interface Template {
  AWSTemplateFormatVersion?: string;
  Description?: string;
  Parameters?: Record<string, ParameterSpec>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Conditions?: Record<string, unknown>;
  Resources?: Record<string, ResourceSpec>;
  Outputs?: Record<string, { Value?: unknown; Description?: string; Condition?: string; Export?: unknown }>;
  Metadata?: unknown;
}

/** Inline TemplateBody limit of the CreateStack API. */
export const MAX_TEMPLATE_BODY = 51_200;

const SHORT_TAGS: Record<string, string> = {
  '!Ref': 'Ref',
  '!Condition': 'Condition',
  '!Sub': 'Fn::Sub',
  '!GetAtt': 'Fn::GetAtt',
  '!If': 'Fn::If',
  '!Equals': 'Fn::Equals',
  '!Not': 'Fn::Not',
  '!And': 'Fn::And',
  '!Or': 'Fn::Or',
  '!Join': 'Fn::Join',
  '!Select': 'Fn::Select',
  '!Split': 'Fn::Split',
  '!FindInMap': 'Fn::FindInMap',
  '!Base64': 'Fn::Base64',
  '!GetAZs': 'Fn::GetAZs',
  '!ImportValue': 'Fn::ImportValue',
  '!Cidr': 'Fn::Cidr',
};

/** Each short tag can decorate a scalar, a sequence or a mapping; all become the long `{ "Fn::X": … }` form. */
const customTags: (ScalarTag | CollectionTag)[] = Object.entries(SHORT_TAGS).flatMap(([tag, fn]) => [
  { tag, resolve: (value: string) => ({ [fn]: value }) } as ScalarTag,
  {
    tag,
    collection: 'seq',
    resolve: (seq: { toJSON(): unknown }) => ({ [fn]: seq.toJSON() }),
  } as unknown as CollectionTag,
  {
    tag,
    collection: 'map',
    resolve: (map: { toJSON(): unknown }) => ({ [fn]: map.toJSON() }),
  } as unknown as CollectionTag,
]);

const formatError = (m: string) => new SandboxError('ValidationError', `Template format error: ${m}`);

export function parseTemplate(body: string): Template {
  if (Buffer.byteLength(body) > MAX_TEMPLATE_BODY) {
    throw new SandboxError(
      'ValidationError',
      `1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TEMPLATE_BODY}`,
    );
  }
  let doc: unknown;
  try {
    doc = body.trimStart().startsWith('{') ? JSON.parse(body) : parse(body, { customTags });
  } catch (e) {
    throw formatError(
      `${body.trimStart().startsWith('{') ? 'JSON' : 'YAML'} not well-formed. ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw formatError('YAML not well-formed.');
  const t = doc as Template;
  if (!t.Resources || typeof t.Resources !== 'object' || Object.keys(t.Resources).length === 0) {
    throw formatError('At least one Resources member must be defined.');
  }
  return t;
}
