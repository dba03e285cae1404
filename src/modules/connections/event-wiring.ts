import type { CredentialProvider } from '../../aws/credentials.js';
import { ALL_EVENT_TYPES, type EventWiringGateway } from '../../aws/event-wiring.js';
import type { Purpose } from '../../aws/policies.js';
import type { Config } from '../../config.js';
import { AppError, isAppError } from '../../errors.js';
import type { Audit } from '../audit/audit.js';
import type { SnsRefusals } from '../events/refusals.js';
import type { Connection, Connections } from './service.js';
import type { Check, WiringResult } from './schemas.js';

/** Names under the `sesame-` prefix that the role template's SNS grant is scoped to. */
export const topicName = (connectionId: string): string => `sesame-events-${connectionId.toLowerCase()}`;
export const configurationSetName = (connectionId: string): string => `sesame-${connectionId.toLowerCase()}`;
const DESTINATION = 'sesame-sns';

export type { WiringResult };

/**
 * SES events reach Sesame through an SNS topic, a configuration-set event destination for every
 * event type, and an HTTP(S) subscription to Sesame's public endpoint. `setup` provisions that
 * with `manage` credentials; `check` verifies it with `read` credentials for `sesame aws test`.
 */
export function createEventWiring(deps: {
  config: Pick<Config, 'publicUrl'>;
  gateway: EventWiringGateway;
  connections: Pick<Connections, 'row' | 'subject' | 'update'>;
  credentials: (subject: ReturnType<Connections['subject']>, purpose: Purpose) => Promise<CredentialProvider>;
  audit: Pick<Audit, 'record'>;
  /** SNS deliveries refused lately: the wiring can be complete while every event is refused. */
  refusals?: Pick<SnsRefusals, 'summary'>;
}) {
  const { gateway } = deps;

  function endpointFor(connectionId: string): string {
    if (!deps.config.publicUrl) {
      throw new AppError('public_url_missing', 'Sesame does not know its public URL, so SNS could not reach it.');
    }
    return `${deps.config.publicUrl.replace(/\/+$/, '')}/v1/sns/${connectionId}`;
  }

  return {
    endpointFor,

    async setup(workspaceId: string, id: string, actor: string): Promise<WiringResult> {
      const r = await deps.connections.row(workspaceId, id);
      const endpoint = endpointFor(r.id);
      const creds = await deps.credentials(deps.connections.subject(r), 'manage');
      const notes: string[] = [];
      const topicArn = await gateway.ensureTopic(creds, r.region, topicName(r.id));
      const configurationSet = r.configurationSet ?? configurationSetName(r.id);
      // Ours (by name) is made sure of every time, so a setup that failed half-way is repaired;
      // a configuration set the person chose is theirs and only gains the event destination.
      if (configurationSet === configurationSetName(r.id))
        await gateway.ensureConfigurationSet(creds, r.region, configurationSet);
      else notes.push(`Events are added to the connection's own configuration set ${configurationSet}.`);
      // Only now does the connection send with it (a set that does not exist would fail every send),
      // and the topic is on the allow-list before subscribing: SNS posts the confirmation at once.
      const topics = r.snsTopicArns;
      if (!topics.includes(topicArn) || r.configurationSet !== configurationSet) {
        await deps.connections.update(
          workspaceId,
          r.id,
          { snsTopicArns: topics.includes(topicArn) ? topics : [...topics, topicArn], configurationSet },
          actor,
        );
      }
      await gateway.putEventDestination(creds, r.region, configurationSet, DESTINATION, topicArn);
      const existing = (await gateway.subscriptions(creds, r.region, topicArn)).find((s) => s.endpoint === endpoint);
      const subscriptionArn = existing?.arn ?? (await gateway.subscribe(creds, r.region, topicArn, endpoint));
      if (endpoint.startsWith('http:'))
        notes.push(
          'The endpoint is plain HTTP: use an https:// SESAME_PUBLIC_URL in production, or notifications cross the network unencrypted.',
        );
      await deps.audit.record({
        workspaceId,
        connectionId: r.id,
        actor,
        action: 'connection.events_wired',
        details: {
          topicArn,
          configurationSet,
          endpoint,
          subscription: subscriptionArn ? 'confirmed' : 'pending_confirmation',
        },
      });
      return {
        topicArn,
        configurationSet,
        endpoint,
        subscription: subscriptionArn ? 'confirmed' : 'pending_confirmation',
        notes,
      };
    },

    /** Whether SNS has confirmed the subscription to Sesame's endpoint yet (for waiting after setup). */
    async subscriptionState(
      workspaceId: string,
      id: string,
    ): Promise<'confirmed' | 'pending_confirmation' | 'missing'> {
      const r = await deps.connections.row(workspaceId, id);
      const endpoint = endpointFor(r.id);
      const creds = await deps.credentials(deps.connections.subject(r), 'manage');
      const topicArn = r.snsTopicArns.find((t) => t.endsWith(`:${topicName(r.id)}`));
      if (!topicArn) return 'missing';
      const subs = (await gateway.subscriptions(creds, r.region, topicArn)).filter((s) => s.endpoint === endpoint);
      return subs.some((s) => s.arn) ? 'confirmed' : subs.length ? 'pending_confirmation' : 'missing';
    },

    /**
     * The `events` check of test connection: complete and confirmed, or what is missing and how to
     * fix it; and the deliveries refused in the last 24 hours with the reason, if any were.
     */
    async check(r: Connection, readCreds: CredentialProvider): Promise<Check> {
      const c = await wiringCheck(r, readCreds);
      const refused = await deps.refusals?.summary(r.id);
      if (!refused) return c;
      return c.status === 'pass'
        ? {
            id: c.id,
            status: 'warn',
            message: `${c.message} But ${refused.message}`,
            hint: refused.hint,
            code: refused.code,
          }
        : { ...c, message: `${c.message} Also, ${refused.message}` };
    },
  };

  async function wiringCheck(r: Connection, readCreds: CredentialProvider): Promise<Check> {
    const id = 'events';
    const fix = `Run \`sesame aws events ${r.name}\` (POST /v1/connections/${r.id}/events) to wire them.`;
    const warn = (message: string, hint = fix, code = 'events_not_wired'): Check => ({
      id,
      status: 'warn',
      message,
      hint,
      code,
    });
    if (!r.configurationSet)
      return warn('SES events are not wired: no configuration set, so bounces and complaints never reach Sesame.');
    let endpoint: string;
    try {
      endpoint = endpointFor(r.id);
    } catch (e) {
      return warn(
        (e as Error).message,
        'Set SESAME_PUBLIC_URL to the address SNS can reach Sesame at.',
        'public_url_missing',
      );
    }
    try {
      const allowed = r.snsTopicArns;
      const dests = (await gateway.eventDestinations(readCreds, r.region, r.configurationSet)).filter(
        (d) => d.enabled && d.topicArn && allowed.includes(d.topicArn),
      );
      if (dests.length === 0)
        return warn(
          `Configuration set ${r.configurationSet} has no enabled SNS event destination to one of this connection's topics.`,
        );
      const covered = new Set(dests.flatMap((d) => d.types));
      const missing = ALL_EVENT_TYPES.filter((t) => !covered.has(t));
      const topicArn = (dests.find((d) => d.topicArn!.endsWith(`:${topicName(r.id)}`)) ?? dests[0]!).topicArn!;
      const attrs = await gateway.topicAttributes(readCreds, r.region, topicArn);
      const subs = (await gateway.subscriptions(readCreds, r.region, topicArn)).filter((s) => s.endpoint === endpoint);
      const problems: string[] = [];
      if (missing.length) problems.push(`event types not published: ${missing.join(', ')}`);
      if (attrs.SignatureVersion !== '2')
        problems.push(`topic ${topicArn} signs with SignatureVersion ${attrs.SignatureVersion ?? '1'} (SHA1), not 2`);
      if (subs.length === 0) problems.push(`no subscription of ${topicArn} to ${endpoint}`);
      else if (!subs.some((s) => s.arn))
        problems.push(
          `the subscription to ${endpoint} is not confirmed yet (SNS could not reach Sesame, or the confirmation was refused)`,
        );
      if (problems.length) return warn(`SES event wiring is incomplete: ${problems.join('; ')}.`);
      return {
        id,
        status: 'pass',
        message: `SES events (all ${ALL_EVENT_TYPES.length} types) flow from configuration set ${r.configurationSet} through ${topicArn} (SignatureVersion 2) to ${endpoint}, confirmed.`,
        hint: '',
      };
    } catch (e) {
      const err = isAppError(e) ? e : new AppError('internal_error', e instanceof Error ? e.message : String(e));
      return {
        id,
        status: 'warn',
        message: `The event wiring could not be read: ${err.message}`,
        hint: err.hint,
        code: err.code,
      };
    }
  }
}

export type EventWiring = ReturnType<typeof createEventWiring>;
