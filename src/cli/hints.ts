/**
 * The CLI shows the same code and message as the API. Its hint is the same too, except where the
 * hint tells an API client what request to make: a CLI user gets the command instead. The catalogue
 * (src/errors.ts) names both where that fits in a line; this map covers the codes whose hints (from
 * the catalogue or set where the error is raised) name only an HTTP request.
 */
const CLI_HINTS: Record<string, string> = {
  recipients_suppressed:
    'Lift a suppression only if you are sure the address accepts mail again: `sesame suppressions remove <email>`, then send again.',
  send_outcome_unknown:
    'Check whether the recipient got it (`sesame emails show <id>` lists the SES events); if not, send it again: `sesame emails retry <id>`.',
  ses_error: 'See the AWS error message; fix the cause, then `sesame emails retry <id>`.',
  ses_mail_from_not_verified:
    'Publish the MAIL FROM MX and SPF records (`sesame domains show <domain>` lists them), then `sesame domains verify <domain>` until SES verifies them.',
  ses_configuration_set_missing:
    "Create the connection's configuration set again with `sesame aws events <connection>`, then `sesame aws resume <connection>`.",
  aws_source_identity_denied:
    'Update the stack with EnableSourceIdentity=true, or turn source identity off: `sesame aws update <connection> --source-identity off`.',
  validation_failed: 'Fix the values named above and run the command again.',
};

/** An HTTP request named in a hint: "PATCH /v1/…", "POST /v1/…", "PATCH { … }". */
const NAMES_REQUEST = /\b(GET|POST|PUT|PATCH|DELETE)\s+(\/v1\/|\{)/;

/** Codes only an HTTP client can meet: their hints stay as they are. */
export const API_ONLY = new Set([
  'invalid_json',
  'payload_too_large',
  'route_not_found',
  'rate_limited',
  'unauthorized',
  'idempotency_in_progress',
  'sns_invalid',
  'sns_cert_url_invalid',
  'sns_cert_unavailable',
  'sns_cert_expired',
  'sns_signature_invalid',
  'sns_topic_not_allowed',
  'sns_duplicate',
  'sns_subscribe_url_invalid',
  'sns_stale',
]);

/**
 * The hint a CLI user should read. `vars` fills placeholders the CLI knows (the connection, the
 * message id, the address), so the command can be copied as is.
 */
export function cliHint(
  code: string | undefined,
  hint: string | null | undefined,
  vars: Record<string, string> = {},
): string {
  let h = hint ?? '';
  const generic = code === 'validation_failed' && /fields listed in details/.test(h);
  if (code && CLI_HINTS[code] && (generic || (NAMES_REQUEST.test(h) && !/`?sesame /.test(h)))) h = CLI_HINTS[code]!;
  for (const [k, v] of Object.entries(vars)) h = h.split(`<${k}>`).join(v);
  return h;
}

export const cliHintFor = (code: string): string | undefined => CLI_HINTS[code];
