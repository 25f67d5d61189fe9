// Payloads of bus messages (JSON, snake_case, versioned with `v`).

/** `{p}.telemetry.first_user`: sent once when the first user is created. */
export interface FirstUserTelemetryEvent {
  v: 1;
  user_id: string;
  organization_id: string;
  email: string;
  username: string;
  created_at: string;
  /** Absent when the client sent no onboarding info (old client, CLI): not the same as "no". */
  onboarding?: { newsletter_marketing: boolean; newsletter_releases: boolean };
}

/** `{p}.config.changed`: every replica drops caches for the entity. */
export interface ConfigChangedEvent {
  v: 1;
  kind: string;
  entity_id?: string;
}

/** `{p}.chatd.wake`. */
export interface ChatdWakeSignal {
  v: 1;
  chat_id?: string;
}

/** `{p}.chatd.control.{worker_id}`. */
export interface ChatdControlSignal {
  v: 1;
  chat_id: string;
  reason: 'interrupt' | 'archive' | 'edit' | 'recover';
  status: string;
}

/** `{p}.workspace.{workspace_id}.claimed` (ReinitializationEvent). */
export interface WorkspaceClaimedEvent {
  v: 1;
  workspace_id: string;
  reason: 'prebuild_claimed';
  owner_id: string;
}

/** Envelope of a message moved to the dead-letter stream after max_deliver failures. */
export interface DeadLetter {
  v: 1;
  stream: string;
  consumer: string;
  subject: string;
  stream_seq: number;
  deliveries: number;
  error: string;
  failed_at: string;
  /** The original payload, base64 (it may not be valid JSON: that can be why it failed). */
  data_b64: string;
}
