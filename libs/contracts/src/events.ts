// Payloads of bus messages (JSON, snake_case, versioned with `v`).
import type { ChatStreamEvent, ChatWatchEvent } from './chats';

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
  /**
   * started_at of the turn the signal is about (RFC 3339, as the sender read it from the
   * locked row). The worker cancels only the turn acquired at that instant, so a late signal
   * cannot cancel a newer turn of the chat. Absent: the worker checks ownership itself.
   */
  started_at?: string;
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

/** `{p}.chat.events.{owner_id}.{chat_id}` (JetStream CHAT_EVENTS): a ChatWatchEvent. */
export interface ChatLifecycleEvent extends ChatWatchEvent {
  v: 1;
}

/** `{p}.chat.{chat_id}.stream`: stream events for every socket on any replica. */
export interface ChatStreamMessage {
  v: 1;
  events: ChatStreamEvent[];
}

/** `{p}.chat.{chat_id}.buffer` request: the parts of the step in progress, after `after_seq`. */
export interface ChatBufferRequest {
  v: 1;
  after_seq?: number;
}

export interface ChatBufferReply {
  v: 1;
  /** The worker that owns the chat, so the caller can ignore a stale owner's reply. */
  worker_id: string;
  events: ChatStreamEvent[];
}
