import {
  awsCliCommands,
  quickCreateUrl,
  type RoleSpec,
  roleTemplate,
  stackName,
  templateObjectKey,
  templateUrl,
  terraform,
} from '../../aws/cloudformation.js';
import type { AwsGateway } from '../../aws/gateway.js';
import type { Platform } from '../../aws/platform.js';
import type { Config } from '../../config.js';
import { AppError, isAppError } from '../../errors.js';
import type { Connection } from '../../store/connections.js';
import type { OnboardingLinks } from './schemas.js';

export type { OnboardingLinks };

/** Onboarding artifacts for role connections, with the template uploaded to the operator's bucket. */
export function createOnboarding(deps: {
  config: Pick<
    Config,
    | 'templateBucket'
    | 'templateBucketRegion'
    | 'templatePrefix'
    | 'consoleUrl'
    | 'region'
    | 'endpoints'
    | 'platformPrincipalArn'
    | 'sessionDurationSeconds'
  >;
  /** Checks that an object URL can be read without credentials, as CloudFormation will. */
  probeUrl?: (url: string) => Promise<boolean>;
  platform: Pick<Platform, 'identity' | 'credentials'>;
  gateway: Pick<AwsGateway, 'putTemplate' | 'isPubliclyReadable'>;
}) {
  const { config } = deps;
  const uploaded = new Set<string>();

  async function trustedPrincipal(): Promise<string> {
    return config.platformPrincipalArn ?? (await deps.platform.identity()).trustedPrincipalArn;
  }

  async function spec(r: Connection): Promise<RoleSpec> {
    return {
      externalId: r.externalId ?? '',
      trustedPrincipalArn: await trustedPrincipal(),
      roleName: r.roleName ?? defaultRoleName(r),
      maxSessionDuration: Math.max(3600, r.sessionDurationSeconds ?? config.sessionDurationSeconds),
      sendDomains: r.sendDomains,
      sourceIdentity: r.sourceIdentity,
    };
  }

  /**
   * Upload the generic template (content-addressed, once per process) and return its URL, after
   * checking it can be read without credentials: CloudFormation in the customer's account reads it
   * as an outsider, so a private object would make the link fail there.
   */
  async function ensureTemplateObject(): Promise<string> {
    if (!config.templateBucket)
      throw new AppError('template_bucket_missing', 'No template bucket is configured, so there is no one-click link.');
    const body = roleTemplate();
    const key = templateObjectKey(config.templatePrefix, body);
    const region = config.templateBucketRegion ?? config.region;
    const url = templateUrl({
      bucket: config.templateBucket,
      key,
      region,
      ...(config.endpoints.s3 ? { s3Endpoint: config.endpoints.s3 } : {}),
    });
    if (!uploaded.has(key)) {
      await deps.gateway.putTemplate(deps.platform.credentials, region, config.templateBucket, key, body);
      if (!(await deps.gateway.isPubliclyReadable(url))) {
        throw new AppError(
          'template_bucket_missing',
          `The template was uploaded to s3://${config.templateBucket}/${key} but cannot be read without credentials, so CloudFormation in another account could not open it.`,
          {
            hint: `Allow public reads of the template prefix only: a bucket policy with Effect Allow, Principal "*", Action s3:GetObject, Resource arn:aws:s3:::${config.templateBucket}/${config.templatePrefix}* (and Block Public Access off for bucket policies). The templates hold no secret.`,
          },
        );
      }
      uploaded.add(key);
    }
    return url;
  }

  return {
    spec,

    async links(r: Connection): Promise<OnboardingLinks> {
      const s = await spec(r);
      const stack = stackName(r.name);
      const base = `/v1/connections/${r.id}`;
      const parameters: Record<string, string> = {
        ExternalId: s.externalId,
        TrustedPrincipalArn: s.trustedPrincipalArn,
        RoleName: s.roleName,
        MaxSessionDuration: String(s.maxSessionDuration),
        SendFromAddressPatterns: s.sendDomains.length ? s.sendDomains.map((d) => `*@${d}`).join(',') : '*',
        EnableSourceIdentity: String(s.sourceIdentity),
      };
      const links: OnboardingLinks = {
        externalId: s.externalId,
        trustedPrincipalArn: s.trustedPrincipalArn,
        stackName: stack,
        roleName: s.roleName,
        quickCreateUrl: null,
        templateUrl: null,
        manual: {
          consoleUrl: `${config.consoleUrl.replace(/\/+$/, '')}/cloudformation/home?region=${r.region}#/stacks/create`,
          steps: [
            `Download the template: GET ${base}/cloudformation (or \`sesame aws template ${r.name} > sesame-role.yaml\`). Its parameters already default to this connection's values.`,
            'In the CloudFormation console choose Create stack > With new resources, then "Upload a template file" and pick the file.',
            `Name the stack ${stack}; check the parameters match the values listed here.`,
            'Acknowledge that CloudFormation might create IAM resources with custom names, and create the stack.',
            `Copy the RoleArn output and give it to Sesame: \`sesame aws setup --connection ${r.name} --role-arn <RoleArn>\`.`,
          ],
          parameters,
        },
        templatePath: `${base}/cloudformation`,
        terraformPath: `${base}/terraform`,
        awsCliPath: `${base}/aws-cli`,
      };
      try {
        const url = await ensureTemplateObject();
        links.templateUrl = url;
        links.quickCreateUrl = quickCreateUrl({
          consoleUrl: config.consoleUrl,
          region: r.region,
          templateUrl: url,
          stackName: stack,
          spec: s,
        });
      } catch (e) {
        const err = isAppError(e) ? e : new AppError('aws_error', 'The template could not be uploaded.');
        links.quickCreateUnavailable = { code: err.code, message: err.message, hint: err.hint };
      }
      return links;
    },

    async template(r: Connection): Promise<string> {
      return roleTemplate(await spec(r));
    },
    async terraform(r: Connection): Promise<string> {
      return terraform(await spec(r));
    },
    async awsCli(r: Connection): Promise<string> {
      return awsCliCommands(await spec(r));
    },
  };
}

/** Role names are per account: include the connection name so several connections can coexist. */
export function defaultRoleName(r: Pick<Connection, 'name'>): string {
  const cleaned = r.name.replace(/[^\w+=,.@-]+/g, '-').slice(0, 40);
  return `SesameSES-${cleaned}`;
}
