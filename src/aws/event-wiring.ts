import {
  CreateConfigurationSetCommand,
  CreateConfigurationSetEventDestinationCommand,
  GetConfigurationSetEventDestinationsCommand,
  UpdateConfigurationSetEventDestinationCommand,
  type EventType,
} from '@aws-sdk/client-sesv2';
import {
  CreateTopicCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  SetTopicAttributesCommand,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { awsErrorName, translateAwsError, translated } from './errors.js';
import type { AwsGateway } from './gateway.js';

/** Every SES event type: the timeline, suppression and the reputation guard need them all. */
export const ALL_EVENT_TYPES: EventType[] = [
  'SEND',
  'REJECT',
  'BOUNCE',
  'COMPLAINT',
  'DELIVERY',
  'OPEN',
  'CLICK',
  'RENDERING_FAILURE',
  'DELIVERY_DELAY',
  'SUBSCRIPTION',
];

export interface EventDestination {
  name: string;
  enabled: boolean;
  types: string[];
  topicArn: string | null;
}

export interface Subscription {
  /** null while the endpoint has not confirmed it. */
  arn: string | null;
  protocol: string;
  endpoint: string;
}

/**
 * The AWS calls that wire SES events to Sesame: an SNS topic, a configuration set with an event
 * destination to it, and an HTTPS subscription. Each step is idempotent, so setting up again
 * repairs a half-finished wiring.
 */
export function createEventWiringGateway(deps: Pick<AwsGateway, 'ses' | 'sns'>) {
  const { sns } = deps;

  return {
    /** CreateTopic is idempotent; the signature version is set apart so an existing topic is upgraded too. */
    async ensureTopic(creds: AwsCredentialIdentityProvider, region: string, name: string): Promise<string> {
      const out = await translated('sns:CreateTopic', region, () =>
        sns(creds, region).send(new CreateTopicCommand({ Name: name })),
      );
      const arn = out.TopicArn ?? '';
      // SignatureVersion 2 signs with SHA256withRSA instead of SHA1withRSA.
      await translated('sns:SetTopicAttributes', region, () =>
        sns(creds, region).send(
          new SetTopicAttributesCommand({ TopicArn: arn, AttributeName: 'SignatureVersion', AttributeValue: '2' }),
        ),
      );
      return arn;
    },

    async topicAttributes(
      creds: AwsCredentialIdentityProvider,
      region: string,
      topicArn: string,
    ): Promise<Record<string, string>> {
      const out = await translated('sns:GetTopicAttributes', region, () =>
        sns(creds, region).send(new GetTopicAttributesCommand({ TopicArn: topicArn })),
      );
      return out.Attributes ?? {};
    },

    async ensureConfigurationSet(creds: AwsCredentialIdentityProvider, region: string, name: string): Promise<void> {
      try {
        await deps.ses(creds, region).send(
          new CreateConfigurationSetCommand({
            ConfigurationSetName: name,
            Tags: [{ Key: 'managed-by', Value: 'sesame' }],
          }),
        );
      } catch (e) {
        if (awsErrorName(e) === 'AlreadyExistsException') return;
        throw translateAwsError(e, { action: 'ses:CreateConfigurationSet', region });
      }
    },

    async putEventDestination(
      creds: AwsCredentialIdentityProvider,
      region: string,
      configurationSet: string,
      name: string,
      topicArn: string,
    ): Promise<void> {
      const dest = { Enabled: true, MatchingEventTypes: ALL_EVENT_TYPES, SnsDestination: { TopicArn: topicArn } };
      try {
        await deps.ses(creds, region).send(
          new CreateConfigurationSetEventDestinationCommand({
            ConfigurationSetName: configurationSet,
            EventDestinationName: name,
            EventDestination: dest,
          }),
        );
      } catch (e) {
        if (awsErrorName(e) !== 'AlreadyExistsException')
          throw translateAwsError(e, { action: 'ses:CreateConfigurationSetEventDestination', region });
        await translated('ses:UpdateConfigurationSetEventDestination', region, () =>
          deps.ses(creds, region).send(
            new UpdateConfigurationSetEventDestinationCommand({
              ConfigurationSetName: configurationSet,
              EventDestinationName: name,
              EventDestination: dest,
            }),
          ),
        );
      }
    },

    async eventDestinations(
      creds: AwsCredentialIdentityProvider,
      region: string,
      configurationSet: string,
    ): Promise<EventDestination[]> {
      const out = await translated('ses:GetConfigurationSetEventDestinations', region, () =>
        deps
          .ses(creds, region)
          .send(new GetConfigurationSetEventDestinationsCommand({ ConfigurationSetName: configurationSet })),
      );
      return (out.EventDestinations ?? []).map((d) => ({
        name: d.Name ?? '',
        enabled: d.Enabled ?? false,
        types: d.MatchingEventTypes ?? [],
        topicArn: d.SnsDestination?.TopicArn ?? null,
      }));
    },

    /** Returns the subscription ARN, or null while SNS waits for the endpoint to confirm. */
    async subscribe(
      creds: AwsCredentialIdentityProvider,
      region: string,
      topicArn: string,
      endpoint: string,
    ): Promise<string | null> {
      const protocol = endpoint.startsWith('https:') ? 'https' : 'http';
      const out = await translated('sns:Subscribe', region, () =>
        sns(creds, region).send(new SubscribeCommand({ TopicArn: topicArn, Protocol: protocol, Endpoint: endpoint })),
      );
      const arn = out.SubscriptionArn ?? '';
      return arn.startsWith('arn:') ? arn : null;
    },

    async subscriptions(
      creds: AwsCredentialIdentityProvider,
      region: string,
      topicArn: string,
    ): Promise<Subscription[]> {
      const all: Subscription[] = [];
      let token: string | undefined;
      do {
        const page = await translated('sns:ListSubscriptionsByTopic', region, () =>
          sns(creds, region).send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token })),
        );
        for (const s of page.Subscriptions ?? []) {
          const arn = s.SubscriptionArn ?? '';
          all.push({
            arn: arn.startsWith('arn:') ? arn : null,
            protocol: s.Protocol ?? '',
            endpoint: s.Endpoint ?? '',
          });
        }
        token = page.NextToken;
      } while (token);
      return all;
    },
  };
}

export type EventWiringGateway = ReturnType<typeof createEventWiringGateway>;
