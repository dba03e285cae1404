/**
 * One schema for SQLite and PostgreSQL. Timestamps are ISO-8601 UTC strings (they sort as text),
 * booleans are 0/1 integers and structured values are JSON text, so both dialects share every query.
 */
export interface Database {
  jobs: JobTable;
  workspaces: WorkspaceTable;
  api_keys: ApiKeyTable;
  users: UserTable;
  members: MemberTable;
  invitations: InvitationTable;
  sessions: SessionTable;
  sign_in_grants: SignInGrantTable;
  connections: ConnectionTable;
  audit_log: AuditTable;
  messages: MessageTable;
  message_recipients: { message_id: string; workspace_id: string; email: string };
  message_tags: { message_id: string; workspace_id: string; tag: string };
  idempotency_keys: {
    workspace_id: string;
    key: string;
    request_hash: string;
    response: string;
    created_at: string;
    expires_at: string;
  };
  suppressions: SuppressionTable;
  workers: { id: string; heartbeat_at: string; started_at: string };
  sns_messages: {
    id: string;
    connection_id: string;
    workspace_id: string;
    topic_arn: string;
    type: string;
    body: string;
    received_at: string;
    processed_at: string | null;
    outcome: string | null;
    attempts: number;
    next_attempt_at: string;
  };
  message_events: {
    id: string;
    workspace_id: string;
    connection_id: string;
    message_id: string | null;
    ses_message_id: string;
    sns_message_id: string;
    kind: string;
    occurred_at: string;
    recipients: string;
    details: string;
    created_at: string;
  };
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  domains: DomainTable;
  warmup_plans: WarmupPlanTable;
  warmup_usage: { connection_id: string; domain: string; day: string; used: number };
  domain_leftovers: DomainLeftoverTable;
  sns_refusals: {
    connection_id: string;
    hour: string;
    code: string;
    refused: number;
    last_at: string;
    last_topic: string | null;
  };
  master_key_check: { id: string; key_id: string; check_value: string; created_at: string };
}

export interface WarmupPlanTable {
  id: string;
  workspace_id: string;
  connection_id: string;
  domain: string; // '' = the whole connection
  schedule: string | null; // JSON array of daily volumes; null = the default ramp
  start_volume: number;
  doubling_days: number;
  start_date: string; // YYYY-MM-DD (UTC)
  held_days: number;
  rolled_on: string; // YYYY-MM-DD (UTC)
  hold_reason: string | null;
  paused_at: string | null;
  account_quota: number | null;
  created_at: string;
  updated_at: string;
}

export interface DomainTable {
  id: string;
  workspace_id: string;
  connection_id: string;
  name: string;
  kind: string;
  origin: string;
  status: string;
  dkim_origin: string;
  dkim_tokens: string;
  dkim_public_key: string | null;
  dkim_status: string;
  mail_from_domain: string | null;
  mail_from_status: string | null;
  dmarc_rua: string | null;
  checks: string;
  checked_at: string | null;
  check_attempts: number;
  verified_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookTable {
  id: string;
  workspace_id: string;
  url: string;
  description: string | null;
  event_types: string; // JSON array
  allow_private: number; // 0/1
  secret_ciphertext: string; // AES-256-GCM envelope (JSON)
  created_at: string;
  updated_at: string;
}

export interface WebhookDeliveryTable {
  id: string;
  webhook_id: string;
  workspace_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempts: number;
  expires_at: string;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  finished_at: string | null;
  created_at: string;
}

export interface WebhookAttemptTable {
  id: string;
  delivery_id: string;
  webhook_id: string;
  workspace_id: string;
  attempt: number;
  at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

export interface MessageTable {
  id: string;
  workspace_id: string;
  connection_id: string;
  api_key_id: string | null;
  source: string;
  status: string;
  from_address: string;
  subject: string;
  recipients: string;
  recipient_count: number;
  tags: string;
  payload: string;
  size_bytes: number;
  scheduled_at: string | null;
  ses_message_id: string | null;
  attempts: number;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_hint: string | null;
  suppressed: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

export interface SuppressionTable {
  workspace_id: string;
  email: string;
  reason: string;
  source: string;
  created_at: string;
}

export interface WorkspaceTable {
  id: string;
  name: string;
  created_at: string;
  default_connection_id: string | null;
}

export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  name: string;
  prefix: string;
  last4: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** JSON array of scopes. */
  scopes: string;
  /** JSON array of connection ids the key may use; null: all. */
  connection_ids: string | null;
}

/** An SES identity Sesame created for a domain add that failed, and could not remove again. */
export interface DomainLeftoverTable {
  connection_id: string;
  name: string;
  workspace_id: string;
  reason: string;
  created_at: string;
}

export interface ConnectionTable {
  id: string;
  workspace_id: string;
  name: string;
  region: string;
  mode: string;
  status: string;
  external_id: string | null;
  role_arn: string | null;
  role_arn_set_at: string | null;
  role_name: string | null;
  send_domains: string; // JSON array
  session_duration_seconds: number | null;
  source_identity: number; // 0/1
  access_key_id: string | null; // the id is not a secret, but only its last 4 are ever shown
  secret_ciphertext: string | null; // AES-256-GCM envelope (JSON)
  access_key_created_at: string | null; // when Sesame first saw the key
  access_key_aws_created_at: string | null; // the key's CreateDate in IAM, once a test could read it
  pending_access_key_id: string | null;
  pending_secret_ciphertext: string | null;
  secret_arn: string | null;
  last_assumed_at: string | null;
  credentials_expire_at: string | null;
  assumed_role_id: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_at: string | null;
  last_tested_at: string | null;
  last_test_status: string | null;
  external_id_rotated_at: string | null;
  paused_reason: string | null;
  paused_at: string | null;
  configuration_set: string | null;
  sns_topic_arns: string;
  created_at: string;
  updated_at: string;
  /** Role mode: when AssumeRole with the External ID last succeeded while the probe proved it required. */
  external_id_proven_at: string | null;
  /** The role ARN that proof was for; the role is used only while it equals role_arn. */
  external_id_proven_role_arn: string | null;
  /** The last confused-deputy probe: pass | fail | skip | warn. */
  external_id_check: string | null;
  external_id_checked_at: string | null;
  /** The AWS account the role was last proven in (to tell a role ARN from another account at once). */
  role_account_id: string | null;
}

export interface AuditTable {
  id: string;
  workspace_id: string | null;
  connection_id: string | null;
  actor: string;
  action: string;
  outcome: string;
  details: string; // JSON object, never secrets
  created_at: string;
}

export interface JobTable {
  queue: string;
  id: string;
  group_key: string;
  run_at: string;
  attempts: number;
  lease_owner: string | null;
  lease_expires_at: string | null;
  in_flight_since: string | null;
}

export interface UserTable {
  id: string;
  email: string;
  created_at: string;
  last_sign_in_at: string | null;
}

export interface MemberTable {
  workspace_id: string;
  user_id: string;
  role: string;
  source: string;
  created_at: string;
}

export interface InvitationTable {
  id: string;
  workspace_id: string;
  email: string;
  role: string;
  invited_by: string;
  created_at: string;
  expires_at: string;
  accepted_at: string | null;
  revoked_at: string | null;
}

export interface SessionTable {
  id: string;
  token_hash: string;
  user_id: string;
  kind: string;
  csrf_token: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  idle_seconds: number;
  ended_at: string | null;
  ended_reason: string | null;
}

export interface SignInGrantTable {
  hash: string;
  kind: string;
  data: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}
