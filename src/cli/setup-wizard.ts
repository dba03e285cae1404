import { SES_REGIONS } from '../aws/regions.js';
import {
  accessKeyId as accessKeyIdSchema,
  roleArn as roleArnSchema,
  secretAccessKey as secretAccessKeySchema,
  updateConnectionSchema,
} from '../modules/connections/schemas.js';
import { Cancelled } from './context.js';

/**
 * The questions of `sesame aws setup` on a terminal. Every answer is checked with the API's own
 * schema as it is typed in, so a wrong answer is asked again instead of ending the wizard; Ctrl-C
 * ends it with "cancelled" (exit 130). Every question also has a flag, so scripts never block.
 */
export type SetupMode = 'role' | 'access_keys' | 'default_chain' | 'secrets_manager';

const MODE_OPTIONS: { value: SetupMode; label: string }[] = [
  { value: 'role', label: 'IAM role + External ID (recommended: no keys leave your account)' },
  { value: 'access_keys', label: 'Access keys (long-lived, encrypted at rest)' },
  { value: 'default_chain', label: "Sesame host's own credentials (self-hosted in your account)" },
  { value: 'secrets_manager', label: 'Access keys kept in AWS Secrets Manager' },
];

const REGION_NAMES: Record<string, string> = {
  'us-east-1': 'N. Virginia',
  'us-east-2': 'Ohio',
  'us-west-1': 'N. California',
  'us-west-2': 'Oregon',
  'af-south-1': 'Cape Town',
  'ap-south-1': 'Mumbai',
  'ap-south-2': 'Hyderabad',
  'ap-northeast-1': 'Tokyo',
  'ap-northeast-2': 'Seoul',
  'ap-northeast-3': 'Osaka',
  'ap-southeast-1': 'Singapore',
  'ap-southeast-2': 'Sydney',
  'ap-southeast-3': 'Jakarta',
  'ap-southeast-5': 'Malaysia',
  'ca-central-1': 'Canada Central',
  'ca-west-1': 'Calgary',
  'eu-central-1': 'Frankfurt',
  'eu-central-2': 'Zurich',
  'eu-west-1': 'Ireland',
  'eu-west-2': 'London',
  'eu-west-3': 'Paris',
  'eu-north-1': 'Stockholm',
  'eu-south-1': 'Milan',
  'eu-south-2': 'Spain',
  'il-central-1': 'Tel Aviv',
  'me-south-1': 'Bahrain',
  'me-central-1': 'UAE',
  'sa-east-1': 'São Paulo',
  'us-gov-east-1': 'GovCloud US-East',
  'us-gov-west-1': 'GovCloud US-West',
};

type Check = (v: string) => string | undefined;

/** The first issue the schema finds, in words, or undefined when the value is accepted. */
function by(schema: { safeParse(v: unknown): { success: boolean; error?: { issues: { message: string }[] } } }): Check {
  return (v) => {
    const r = schema.safeParse(v);
    return r.success ? undefined : (r.error?.issues[0]?.message ?? 'not accepted');
  };
}

const required =
  (what: string, check: Check): Check =>
  (v) =>
    v.trim() === '' ? `${what} is required` : check(v.trim());

export async function createWizard() {
  const p = await import('@clack/prompts');
  const answer = <T>(v: T): Exclude<T, symbol> => {
    if (typeof v === 'symbol' || p.isCancel(v)) {
      p.cancel('Setup cancelled.');
      throw new Cancelled();
    }
    return v as Exclude<T, symbol>;
  };
  const text = async (o: {
    message: string;
    placeholder?: string;
    defaultValue?: string;
    validate: Check;
  }): Promise<string> =>
    answer(
      await p.text({
        message: o.message,
        ...(o.placeholder ? { placeholder: o.placeholder } : {}),
        ...(o.defaultValue ? { defaultValue: o.defaultValue } : {}),
        // An empty answer takes the default, so it is accepted when there is one.
        validate: (v) => (!v && o.defaultValue ? undefined : o.validate(v ?? '')),
      }),
    ).trim();

  return {
    intro(title: string): void {
      p.intro(title);
    },

    async mode(allowed: readonly SetupMode[], initial?: SetupMode): Promise<SetupMode> {
      return answer(
        await p.select<SetupMode>({
          message: 'How should Sesame reach your AWS account?',
          options: MODE_OPTIONS.filter((o) => allowed.includes(o.value)),
          initialValue: initial && allowed.includes(initial) ? initial : 'role',
        }),
      );
    },

    async name(taken: readonly string[]): Promise<string> {
      const check = by(updateConnectionSchema.shape.name);
      return text({
        message: 'Connection name',
        placeholder: 'production',
        defaultValue: taken.includes('production') ? undefined : 'production',
        validate: required('A name', (v) =>
          taken.includes(v) ? `a connection named "${v}" already exists; choose another name` : check(v),
        ),
      });
    },

    async region(initial: string): Promise<string> {
      const regions = [...SES_REGIONS];
      return answer(
        await p.select<string>({
          message: 'SES region (where your SES account sends from)',
          options: regions.map((r) => ({ value: r, label: r, hint: REGION_NAMES[r] })),
          initialValue: regions.includes(initial) ? initial : 'us-east-1',
          maxItems: 10,
        }),
      );
    },

    async accessKeyId(): Promise<string> {
      return text({
        message: 'Access key id',
        placeholder: 'AKIA…',
        validate: required('The access key id', by(accessKeyIdSchema)),
      });
    },

    async secretAccessKey(): Promise<string> {
      const check = required('The secret access key', by(secretAccessKeySchema));
      return answer(
        await p.password({ message: 'Secret access key', validate: (v) => check(v ?? ''), clearOnError: true }),
      ).trim();
    },

    async secretArn(): Promise<string> {
      return text({
        message: 'ARN of the secret holding {"accessKeyId", "secretAccessKey"}',
        placeholder: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sesame-keys-AbCdEf',
        validate: required('The secret ARN', by(updateConnectionSchema.shape.secretArn)),
      });
    },

    /** Ctrl-C here keeps the connection (it exists already) and says how to finish. */
    async roleArn(connection: string): Promise<string> {
      const v = await p.text({
        message: 'Paste the RoleArn output of the stack',
        placeholder: 'arn:aws:iam::123456789012:role/SesameSES-production',
        validate: (s) =>
          roleArnSchema.safeParse((s ?? '').trim()).success
            ? undefined
            : 'an IAM role ARN such as arn:aws:iam::123456789012:role/SesameSES-production',
      });
      if (p.isCancel(v)) {
        p.cancel('Setup cancelled.');
        throw new Cancelled(
          `Connection ${connection} is saved; finish later with: sesame aws setup --connection ${connection} --role-arn <RoleArn>`,
        );
      }
      return v.trim();
    },
  };
}

export type Wizard = Awaited<ReturnType<typeof createWizard>>;
