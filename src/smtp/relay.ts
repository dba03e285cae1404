import type { AddressInfo } from 'node:net';
import {
  SMTPServer,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerDataStream,
  type SMTPServerSession,
} from 'smtp-server';
import { systemClock } from '../clock.js';
import type { Config } from '../config.js';
import { AppError, isAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApiKeys, KeyPrincipal as Principal } from '../modules/api-keys/api-keys.js';
import { type AuthFailureLimit, createAuthFailureLimit } from '../modules/api-keys/failure-limit.js';
import { checkAddress } from '../modules/messages/address.js';
import { MAX_RECIPIENTS } from '../modules/messages/input.js';
import type { Messages } from '../modules/messages/service.js';
import { parseSmtpMessage } from './message.js';
import { reply, replyFor } from './replies.js';
import { loadSmtpTls } from './tls.js';

export const SMTP_USERNAME = 'sesame';
/** Failed AUTHs per connection before it is closed: slows password guessing to a reconnect each. */
export const MAX_AUTH_FAILURES = 3;

export interface SmtpRelayDeps {
  config: Pick<
    Config,
    | 'smtpPort'
    | 'smtpHost'
    | 'smtpTlsCert'
    | 'smtpTlsKey'
    | 'smtpRequireTls'
    | 'smtpMaxBytes'
    | 'authFailureLimit'
    | 'authFailureWindowSeconds'
  >;
  apiKeys: Pick<ApiKeys, 'authenticate'>;
  /** Failed authentications per address, shared with the API when given (the container's). */
  authLimit?: Pick<AuthFailureLimit, 'retryAfterMs' | 'fail' | 'max' | 'windowMs'>;
  messages: Pick<Messages, 'submitDraft'>;
  logger: Logger;
}

/**
 * The SMTP front door to the same pipeline as POST /v1/emails: AUTH with an API key, then each
 * message goes through submitDraft (governance, suppression, durable queue) and is answered with
 * its message id or the same error code the API would give.
 */
const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

export function createSmtpRelay(deps: SmtpRelayDeps) {
  const { config, logger } = deps;
  const tls = loadSmtpTls(config);
  const maxBytes = config.smtpMaxBytes;
  const failures = new WeakMap<SMTPServerSession, number>();
  const log = logger.child({ component: 'smtp' });
  const authLimit =
    deps.authLimit ??
    createAuthFailureLimit({
      clock: systemClock,
      max: config.authFailureLimit,
      windowMs: config.authFailureWindowSeconds * 1000,
    });

  async function onAuth(
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
  ): Promise<SMTPServerAuthenticationResponse> {
    // Checked here rather than by smtp-server, which answers the non-standard 538; RFC 3207 says 530.
    if (config.smtpRequireTls && !session.secure) throw reply(530, '5.7.0', 'Must issue a STARTTLS command first');
    // Reconnecting does not reset this one: it counts per address, across connections (and the API).
    const wait = authLimit.retryAfterMs(session.remoteAddress);
    if (wait > 0) {
      log.info(
        { session: session.id, remoteAddress: session.remoteAddress },
        'smtp auth refused: address over the limit',
      );
      throw reply(
        421,
        '4.7.0',
        `Too many failed authentications from your address; try again in ${Math.ceil(wait / 1000)} s.`,
      );
    }
    const fail = (why: string): SMTPServerAuthenticationResponse => {
      const n = (failures.get(session) ?? 0) + 1;
      failures.set(session, n);
      if (authLimit.fail(session.remoteAddress).reached)
        log.warn(
          {
            remoteAddress: session.remoteAddress,
            failures: authLimit.max,
            windowSeconds: authLimit.windowMs / 1000,
          },
          'too many failed SMTP authentications from one address: refusing it until the window ends',
        );
      // Neither the username nor the password is logged: people paste keys into either field.
      log.info(
        { session: session.id, remoteAddress: session.remoteAddress, method: auth.method, failures: n },
        'smtp auth refused',
      );
      // 421 makes smtp-server close the connection after sending it.
      if (n >= MAX_AUTH_FAILURES)
        throw reply(421, '4.7.0', `Authentication failed ${n} times; closing the connection.`);
      return { message: `5.7.8 Authentication failed: ${why}`, responseCode: 535 };
    };
    if (auth.username !== SMTP_USERNAME)
      return fail(`the username must be "${SMTP_USERNAME}" (the password is an API key).`);
    let principal: Principal;
    try {
      principal = await deps.apiKeys.authenticate(auth.password ?? '');
    } catch (e) {
      if (isAppError(e) && e.code === 'unauthorized')
        return fail('the password is not a valid API key (it may be mistyped or revoked).');
      log.error({ err: e, session: session.id }, 'smtp auth could not be checked');
      throw reply(454, '4.7.0', 'Authentication is temporarily unavailable; try again later.');
    }
    return { user: principal };
  }

  async function onMessage(raw: Buffer, session: SMTPServerSession): Promise<string> {
    const user = session.user as Principal;
    // Checked in onRcptTo; normalised here the way the API normalises (domain lowercased).
    const recipients = session.envelope.rcptTo.map((r) => {
      const c = checkAddress(r.address);
      return c.ok ? c.address : r.address;
    });
    const parsed = parseSmtpMessage(raw, recipients);
    // The key's scopes are read again for each message: a change or revocation applies at once.
    const submitter = { workspaceId: user.workspaceId, apiKeyId: user.apiKeyId, actor: `api_key:${user.prefix}` };
    const r = await deps.messages.submitDraft(submitter, parsed.draft, parsed.sizeBytes, parsed.connectionRef);
    log.info(
      {
        session: session.id,
        messageId: r.id,
        status: r.status,
        recipients: recipients.length,
        sizeBytes: parsed.sizeBytes,
        apiKeyId: user.apiKeyId,
      },
      'smtp message accepted',
    );
    return r.status === 'suppressed'
      ? `2.0.0 Ok: queued as ${r.id} (not sent: every recipient is on the suppression list)`
      : `2.0.0 Ok: queued as ${r.id}`;
  }

  const server = new SMTPServer({
    banner: 'Sesame SMTP relay',
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage: `5.7.0 Authentication required: AUTH PLAIN or LOGIN as "${SMTP_USERNAME}" with an API key as the password`,
    // Without a certificate there is no STARTTLS, and AUTH in clear text is then the only way in:
    // that setup is meant for a relay bound to loopback (the default host) or a private network.
    // With a certificate, smtpRequireTls decides (see onAuth); smtp-server's own check is off so
    // the refusal can be the standard 530.
    allowInsecureAuth: true,
    ...(tls ? { cert: tls.cert, key: tls.key } : { disabledCommands: ['STARTTLS'] }),
    size: maxBytes,
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 5_000,

    onAuth(auth, session, cb) {
      onAuth(auth, session).then(
        (r) => cb(null, r),
        (e: Error) => cb(e),
      );
    },

    onMailFrom(address, _session, cb) {
      if (address.address === '')
        return cb(
          reply(
            553,
            '5.1.7',
            'The envelope sender (MAIL FROM) must be an address; the null sender <> is not accepted.',
          ),
        );
      const c = checkAddress(address.address);
      cb(c.ok ? null : reply(553, '5.1.7', `MAIL FROM <${address.address.slice(0, 100)}> ${c.reason}.`));
    },

    onRcptTo(address, session, cb) {
      const c = checkAddress(address.address);
      if (!c.ok) return cb(reply(553, '5.1.3', `RCPT TO <${address.address.slice(0, 100)}> ${c.reason}.`));
      const key = address.address.toLowerCase();
      const rcpts = session.envelope.rcptTo;
      // RFC 5321 4.5.3.1.10: a recipient limit is answered with 452, and the client sends the rest later.
      if (rcpts.length >= MAX_RECIPIENTS && !rcpts.some((r) => r.address.toLowerCase() === key)) {
        return cb(
          reply(
            452,
            '4.5.3',
            `Too many recipients: SES accepts at most ${MAX_RECIPIENTS} per message; send the others in another message.`,
          ),
        );
      }
      cb();
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      let kept = 0;
      let dropped = false;
      // Past the limit nothing more is kept: the rest is read only to reach the end of DATA.
      stream.on('data', (chunk: Buffer) => {
        if (!dropped && kept + chunk.length <= maxBytes) {
          chunks.push(chunk);
          kept += chunk.length;
        } else dropped = true;
      });
      stream.on('error', (e) => log.info({ session: session.id, err: e.message }, 'smtp message stream ended early'));
      stream.on('end', () => {
        if (stream.sizeExceeded || dropped) {
          log.info(
            { session: session.id, code: 'message_too_large', bytes: stream.byteLength },
            'smtp message refused',
          );
          return cb(
            reply(
              552,
              '5.3.4',
              `message_too_large: The message is over the limit of ${maxBytes} bytes (SIZE ${maxBytes}).`,
            ),
          );
        }
        onMessage(Buffer.concat(chunks, kept), session).then(
          (text) => cb(null, text),
          (e: unknown) => {
            const r = replyFor(e);
            if (r.code === 'internal_error' && !isAppError(e))
              log.error({ err: e, session: session.id }, 'smtp message could not be stored');
            log.info({ session: session.id, code: r.code, reply: r.reply.responseCode }, 'smtp message refused');
            cb(r.reply);
          },
        );
      });
    },

    onClose(session) {
      failures.delete(session);
    },
  });
  // A client's socket error reaches the server's 'error' event; unhandled, it would end the process.
  server.on('error', (e) => log.warn({ err: e.message }, 'smtp connection error'));

  return {
    /** Defaults to the configured port and host; port 0 picks a free port (tests). */
    listen(port: number = config.smtpPort, host: string = config.smtpHost): Promise<{ port: number }> {
      // API keys travel as SMTP passwords: in clear text only on the loopback interface.
      if (!tls && !isLoopback(host)) {
        return Promise.reject(
          new AppError(
            'config_invalid',
            `The SMTP relay would listen on ${host} without TLS, so API keys would cross the network in clear text.`,
            {
              hint: 'Set SESAME_SMTP_TLS_CERT and SESAME_SMTP_TLS_KEY (and SESAME_SMTP_REQUIRE_TLS=true), or bind SESAME_SMTP_HOST to 127.0.0.1, or start with --no-smtp.',
              details: { setting: 'SESAME_SMTP_HOST' },
            },
          ),
        );
      }
      return new Promise((resolve, reject) => {
        const onError = (e: Error) =>
          reject(new Error(`The SMTP relay could not listen on ${host}:${port}: ${e.message}`));
        server.server.once('error', onError);
        server.listen(port, host, () => {
          server.server.off('error', onError);
          const { port: bound } = server.server.address() as AddressInfo;
          log.info(
            { host, port: bound, starttls: Boolean(tls), requireTls: config.smtpRequireTls },
            'smtp relay listening',
          );
          resolve({ port: bound });
        });
      });
    },
    /** Stops accepting; open sessions get up to 5 s to finish before they are closed. */
    close(): Promise<void> {
      return new Promise((resolve) => {
        if (!server.server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
}

export type SmtpRelay = ReturnType<typeof createSmtpRelay>;
