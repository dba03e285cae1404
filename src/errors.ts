/**
 * Every error a person can meet carries a stable `code`, a message saying what happened and a
 * `hint` saying what to do. The HTTP API and the CLI show the same codes.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string;
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; status?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    const entry = CATALOGUE[code];
    this.status = opts.status ?? entry.status;
    this.hint = opts.hint ?? entry.hint;
    if (opts.details) this.details = opts.details;
  }

  toJSON(): { code: string; message: string; hint: string; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** The code catalogue: default HTTP status and default hint per code. */
export const CATALOGUE = {
  // request and input
  validation_failed: { status: 400, hint: 'Fix the fields listed in details and send the request again.' },
  invalid_json: { status: 400, hint: 'Send a valid JSON body with Content-Type: application/json.' },
  payload_too_large: { status: 413, hint: 'Send a smaller request body.' },
  not_found: { status: 404, hint: 'Check the id; it may belong to another workspace or have been deleted.' },
  route_not_found: { status: 404, hint: 'Check the method and path against the API reference in the README.' },
  conflict: { status: 409, hint: 'The resource already exists or changed meanwhile; reload it and retry.' },
  rate_limited: { status: 429, hint: 'Slow down and retry after the time given in Retry-After.' },
  internal_error: { status: 500, hint: 'Retry; if it persists, check the server log for the request id.' },
  // auth
  unauthorized: {
    status: 401,
    hint: 'Send Authorization: Bearer <api key>. Create a key with `sesame api-keys create`.',
  },
  forbidden: {
    status: 403,
    hint: "Your role or the API key's scopes do not include this permission; ask an owner or admin, or use a key with the scope named in details.",
  },
  session_expired: { status: 401, hint: 'Sign in again (the browser sign-in page, or `sesame login`).' },
  csrf_failed: {
    status: 403,
    hint: 'Reload the page and try again: a change made in the browser must come from the Sesame page itself (its sesame-csrf token and origin).',
  },
  last_owner: { status: 409, hint: 'Make another member an owner first, then change or remove this one.' },
  not_a_member: {
    status: 403,
    hint: 'Ask an owner or admin of the workspace to invite this email address (sesame members invite <email> --role <role>).',
  },
  sign_in_link_invalid: {
    status: 400,
    hint: 'Ask for a new link: `sesame admin sign-in-link <email>` on the server, or sign in through your identity provider.',
  },
  oidc_not_configured: {
    status: 404,
    hint: 'Set SESAME_OIDC_ISSUER, SESAME_OIDC_CLIENT_ID and SESAME_OIDC_CLIENT_SECRET (see the README), or use a one-time sign-in link.',
  },
  oidc_failed: {
    status: 401,
    hint: 'Start the sign-in again from the sign-in page; if it keeps failing, check the server log and the provider settings.',
  },
  oidc_email_unverified: {
    status: 403,
    hint: 'Verify the email address at your identity provider (or ask its administrator), then sign in again.',
  },
  oidc_domain_not_allowed: {
    status: 403,
    hint: 'Sign in with an account of an allowed domain (SESAME_OIDC_ALLOWED_DOMAINS).',
  },
  // the CLI as a client of a server
  server_unreachable: {
    status: 503,
    hint: 'Check the URL (--server, SESAME_URL or `sesame login`) and that the server is running and reachable from here.',
  },
  server_not_running: {
    status: 503,
    hint: 'Start it with `sesame start` (in another terminal), or sign in to a server elsewhere with `sesame login <url>`.',
  },
  login_timed_out: {
    status: 408,
    hint: 'Run `sesame login <url>` again and finish in the browser within 5 minutes, or give an API key with --with-token.',
  },
  not_logged_in: {
    status: 401,
    hint: 'Sign in with `sesame login <url>` (or `sesame login <url> --with-token` to give an API key), or set SESAME_TOKEN.',
  },
  // configuration
  config_invalid: { status: 500, hint: 'Fix the named setting (environment variable or flag) and start again.' },
  master_key_missing: {
    status: 500,
    hint: 'Set SESAME_MASTER_KEY (32 bytes, base64) or run `sesame init` to create one.',
  },
  decryption_failed: {
    status: 500,
    hint: 'SESAME_MASTER_KEY is not the key these secrets were encrypted with. Restore the original key.',
  },
  master_key_mismatch: {
    status: 500,
    hint: 'Restore the master key this database was set up with (SESAME_MASTER_KEY or <data dir>/master.key) from your backup.',
  },
  port_in_use: {
    status: 500,
    hint: 'Stop the program holding each port, or choose another port with the setting named on its line.',
  },
  // connections
  connection_mode_invalid: { status: 400, hint: 'Use one of: role, access_keys, default_chain, secrets_manager.' },
  role_arn_missing: {
    status: 409,
    hint: 'Create the stack from the CloudFormation template, then set its RoleArn output with PATCH /v1/connections/:id { roleArn } or `sesame aws setup --role-arn`.',
  },
  role_arn_mismatch: {
    status: 409,
    hint: "Copy the RoleArn output of the stack created from this connection's onboarding link, and set it again (sesame aws setup --connection <connection> --role-arn <RoleArn>).",
  },
  mode_disabled: {
    status: 403,
    hint: "The default_chain mode sends with Sesame's own host credentials, so the operator must allow it explicitly (SESAME_ALLOW_DEFAULT_CHAIN=true); use the role mode otherwise.",
  },
  template_bucket_missing: {
    status: 409,
    hint: 'Set SESAME_TEMPLATE_BUCKET to an S3 bucket the platform credentials may write, or download the template and upload it in the CloudFormation console.',
  },
  // sending
  too_many_recipients: {
    status: 400,
    hint: 'SES accepts at most 50 recipients (To + Cc + Bcc) per message. Split the message, or use the batch endpoint.',
  },
  message_too_large: {
    status: 413,
    hint: 'SES accepts at most 40 MB per message after encoding (attachments grow by a third in base64). Link large files instead of attaching them.',
  },
  invalid_attachment: {
    status: 400,
    hint: 'Attachment content must be standard base64 (A-Z, a-z, 0-9, +, /, = padding).',
  },
  header_not_allowed: {
    status: 400,
    hint: 'Custom headers may not contain CR or LF, and may not replace headers Sesame sets (From, To, Subject, Message-ID, MIME and Content-* headers, X-Sesame-*).',
  },
  connection_required: {
    status: 422,
    hint: 'Name a connection in "connection", or set a default connection for the workspace (sesame aws default <connection>).',
  },
  connection_not_ready: {
    status: 422,
    hint: 'Finish the connection first (role ARN set, test passing): sesame aws test <connection>.',
  },
  connection_unsafe: {
    status: 422,
    hint: "The role can be assumed without this connection's External ID: add the sts:ExternalId condition the message names to its trust policy, then test the connection again (sesame aws test <connection>).",
  },
  from_not_verified: {
    status: 422,
    hint: "Verify the address or its domain in SES for this connection's account and region (SES console > Verified identities, or `sesame sandbox verify-identity` offline), then send again.",
  },
  from_not_allowed: {
    status: 422,
    hint: 'The connection is limited to its send domains: send from one of them, or list every domain it may use with `sesame aws update <connection> --send-domain <domain>…` (PATCH /v1/connections/:id { sendDomains }).',
  },
  idempotency_conflict: {
    status: 409,
    hint: 'This Idempotency-Key was already used with a different request body. Use a new key for a new message.',
  },
  idempotency_in_progress: {
    status: 409,
    hint: 'A request with this Idempotency-Key is still being processed; retry in a moment to get its answer.',
  },
  idempotency_key_invalid: { status: 400, hint: 'Idempotency-Key must be 1-255 printable ASCII characters.' },
  not_cancellable: {
    status: 409,
    hint: 'Only queued or scheduled messages can be cancelled; this one is already on its way or done.',
  },
  not_retryable: { status: 409, hint: 'Only failed messages can be retried.' },
  // SNS notifications
  sns_invalid: {
    status: 400,
    hint: 'Post an Amazon SNS message (JSON with Type, MessageId, TopicArn, Message, Timestamp, Signature, SigningCertURL).',
  },
  sns_cert_url_invalid: {
    status: 400,
    hint: 'Only certificates served by https://sns.<region>.amazonaws.com (or by the SNS endpoint set in AWS_ENDPOINT_URL_SNS / AWS_ENDPOINT_URL) are trusted.',
  },
  sns_cert_unavailable: {
    status: 503,
    hint: 'The signing certificate could not be fetched (or is not in SESAME_SNS_CERT_DIR); Sesame answers 503 so that SNS retries the delivery.',
  },
  sns_cert_expired: {
    status: 400,
    hint: 'The message is signed with a certificate outside its validity dates; it is not accepted.',
  },
  sns_confirmation_failed: {
    status: 502,
    hint: 'SNS sends the confirmation again; check that Sesame can reach the SNS endpoint (or run `sesame aws events <connection>` again).',
  },
  sns_signature_invalid: { status: 403, hint: 'The message was altered or not signed by Amazon SNS.' },
  sns_topic_not_allowed: {
    status: 403,
    hint: "Add the topic to the connection's allow-list (PATCH /v1/connections/:id { snsTopicArns }) if it is yours.",
  },
  sns_duplicate: { status: 409, hint: 'This SNS MessageId was already received; it is not processed twice.' },
  sns_subscribe_url_invalid: {
    status: 400,
    hint: 'Only SubscribeURLs on https://sns.<region>.amazonaws.com are followed.',
  },
  identity_missing: {
    status: 404,
    hint: 'The identity is not in the SES account of this connection (region and account as the connection). Add it again, or remove it from Sesame.',
  },
  identity_exists: {
    status: 409,
    hint: 'The identity already exists in the SES account: import it instead (POST /v1/domains with "import": true, or `sesame domains add <domain> --import`).',
  },
  public_url_missing: {
    status: 409,
    hint: 'Set SESAME_PUBLIC_URL to the base URL at which Amazon SNS can reach this Sesame (for example https://sesame.example.com), then try again.',
  },
  events_not_wired: {
    status: 409,
    hint: 'Run `sesame aws events <connection>` (POST /v1/connections/:id/events) so SES events reach Sesame.',
  },
  sns_stale: {
    status: 400,
    hint: 'The message is older than SESAME_SNS_MAX_AGE_SECONDS: a replay, or a delivery retried for too long.',
  },
  sns_future: {
    status: 400,
    hint: "The message is dated more than 5 minutes after Sesame's clock: check that this server's clock is right (NTP).",
  },
  auth_failures_limited: {
    status: 429,
    hint: 'Too many requests with a wrong API key came from this address. Check the key, then retry after the seconds in Retry-After.',
  },
  // warmup plans
  warmup_not_found: {
    status: 404,
    hint: 'Create the plan with PUT /v1/connections/:id/warmup (sesame warmup set <connection>), or name the domain of an existing plan (--domain).',
  },
  // outgoing webhooks
  webhook_url_not_allowed: {
    status: 422,
    hint: 'Use a public https URL. To reach a receiver on a private network, the operator sets SESAME_WEBHOOKS_ALLOW_PRIVATE=true and the webhook is created with "allowPrivate": true (http is then accepted too).',
  },
  webhook_host_unresolvable: {
    status: 422,
    hint: 'Check the host name in the URL and its DNS records; Sesame checks every address it resolves to before calling it.',
  },
  // AWS, translated in src/aws/errors.ts
  aws_invalid_client_token: {
    status: 502,
    hint: 'The access key id does not exist in AWS (deleted, mistyped, or from another partition). Check the key id, or create a new access key.',
  },
  aws_signature_mismatch: {
    status: 502,
    hint: 'The secret access key does not match the key id. Re-enter the secret; check for extra spaces or a truncated copy.',
  },
  aws_access_denied: {
    status: 502,
    hint: 'The credentials are valid but not allowed to do this. Compare the role or user policy with the permissions in the CloudFormation template.',
  },
  aws_trust_policy_denied: {
    status: 502,
    hint: "The role does not trust Sesame with this External ID. Check that the trust policy names the platform principal shown by `sesame aws whoami` and that sts:ExternalId equals the connection's External ID; re-deploy the template if it changed.",
  },
  aws_role_propagating: {
    status: 502,
    hint: 'The role was created moments ago and IAM may still be propagating it. Wait a minute and test again.',
  },
  aws_expired_token: {
    status: 502,
    hint: 'The temporary credentials expired. Sesame refreshes them on the next call; if you supplied a session token yourself, obtain a fresh one.',
  },
  aws_region_disabled: {
    status: 502,
    hint: 'STS is not enabled in this region for the account. Enable the region in the account settings, or pick another region.',
  },
  aws_region_invalid: {
    status: 400,
    hint: 'Use a region where Amazon SES is offered, such as us-east-1, eu-west-1 or eu-central-1.',
  },
  aws_throttled: {
    status: 503,
    hint: 'AWS is throttling requests. Sesame retries with backoff; if it persists, lower the request rate.',
  },
  aws_unreachable: {
    status: 502,
    hint: 'Sesame could not reach the AWS endpoint. Check network access and AWS_ENDPOINT_URL settings.',
  },
  aws_endpoint_not_aws: {
    status: 502,
    hint: 'Something other than AWS answered: check AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (and any HTTP proxy), fix or unset them, then restart Sesame.',
  },
  aws_validation: { status: 502, hint: 'AWS refused the request parameters. The message names the parameter.' },
  aws_no_credentials: {
    status: 502,
    hint: 'No AWS credentials were found for Sesame itself. Configure the SDK default chain (AWS_PROFILE, environment, instance or task role).',
  },
  aws_secret_invalid: { status: 502, hint: 'The secret must be JSON with accessKeyId and secretAccessKey strings.' },
  aws_error: { status: 502, hint: 'AWS returned an error; the message has its code.' },
  // A message's last error (GET /v1/emails/:id lastError): what the sending part recorded.
  recipients_suppressed: {
    status: 422,
    hint: 'Remove the addresses from the suppression list (DELETE /v1/suppressions/:email) only if you are sure they accept mail again.',
  },
  warmup_held: {
    status: 429,
    hint: 'Not a failure: the message is sent when the plan allows. See the plan with GET /v1/connections/:id/warmup or `sesame warmup show <connection>`; change it with PUT /v1/connections/:id/warmup or `sesame warmup set`.',
  },
  connection_deleted: { status: 409, hint: 'Send the message again through another connection.' },
  message_unreadable: {
    status: 500,
    hint: 'The stored message could not be read back (the database row was changed by hand or damaged); send it again.',
  },
  send_outcome_unknown: {
    status: 502,
    hint: 'Check whether the recipient got it (SES events carry the X-Sesame-Message-Id header); if not, send it again with POST /v1/emails/:id/retry.',
  },
  ses_throttled: {
    status: 503,
    hint: "Sesame retries with backoff. If this persists, the account's MaxSendRate is lower than the traffic.",
  },
  ses_daily_quota: {
    status: 429,
    hint: 'The account reached its 24-hour sending quota; messages wait until it frees up. Ask AWS for a higher quota if this repeats.',
  },
  ses_unavailable: { status: 503, hint: 'Sesame retries with backoff.' },
  ses_sending_paused: {
    status: 503,
    hint: 'Read the notice in the SES console (Reputation metrics), fix the cause, re-enable sending, then resume the connection: sesame aws resume <connection>.',
  },
  ses_message_rejected: {
    status: 422,
    hint: 'Check the reason: an unverified sender or, in the SES sandbox, an unverified recipient; a virus in an attachment; or an invalid header.',
  },
  ses_mail_from_not_verified: {
    status: 422,
    hint: 'Publish the MAIL FROM MX and SPF records for the domain (GET /v1/domains/:id shows them) and wait for SES to verify them.',
  },
  ses_configuration_set_missing: {
    status: 502,
    hint: "Create the connection's configuration set in SES (or clear it: PATCH /v1/connections/:id { configurationSet: null }), then resume the connection.",
  },
  ses_bad_request: {
    status: 422,
    hint: 'The message or its configuration set is not acceptable to SES; the message says which part.',
  },
  ses_error: {
    status: 502,
    hint: 'See the AWS error message; fix the cause and retry the message (POST /v1/emails/:id/retry).',
  },
  clock_skew: {
    status: 502,
    hint: "Sesame's host clock is off; keep it synchronised (NTP). Sesame retries with a corrected offset.",
  },
} as const satisfies Record<string, { status: number; hint: string }>;

export type ErrorCode = keyof typeof CATALOGUE;

export const notFound = (what: string): AppError => new AppError('not_found', `${what} was not found.`);
