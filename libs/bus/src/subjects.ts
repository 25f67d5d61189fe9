// The subject catalogue (docs/architecture.md §4). Every subject agentmesh uses is declared
// here with its payload type and transport; code builds concrete subjects through a
// `SubjectCatalog` bound to the deployment's prefix, never by concatenating strings.
import type {
  AibridgeBatchMessage,
  AibridgeKind,
  AibridgeRecordMessage,
  ChatBufferRequest,
  ChatdControlSignal,
  ChatLifecycleEvent,
  ChatStreamMessage,
  ChatdWakeSignal,
  ConfigChangedEvent,
  DeadLetter,
  FirstUserTelemetryEvent,
  WorkspaceClaimedEvent,
} from '@agentmesh/contracts';

export type StreamKey = 'CHAT_EVENTS' | 'AIBRIDGE' | 'TELEMETRY' | 'DEAD_LETTERS';

export interface SubjectSpec<P, A extends string[] = []> {
  /** Stable key used in handler registration and logs, e.g. `chatd.control`. */
  readonly key: string;
  readonly transport: 'core' | 'jetstream';
  readonly stream?: StreamKey;
  /** Template with `{param}` tokens, relative to the prefix. */
  readonly template: string;
  readonly __payload?: P;
  readonly __args?: A;
}

export type PayloadOf<S> = S extends SubjectSpec<infer P, string[]> ? P : never;
export type ArgsOf<S> = S extends SubjectSpec<unknown, infer A> ? A : never;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySubject = SubjectSpec<any, any>;

function core<P, A extends string[] = []>(key: string, template: string): SubjectSpec<P, A> {
  return { key, transport: 'core', template };
}
function durable<P, A extends string[] = []>(
  key: string,
  stream: StreamKey,
  template: string,
): SubjectSpec<P, A> {
  return { key, transport: 'jetstream', stream, template };
}

export const Subjects = {
  chatdWake: core<ChatdWakeSignal>('chatd.wake', 'chatd.wake'),
  chatdControl: core<ChatdControlSignal, [workerId: string]>('chatd.control', 'chatd.control.{worker_id}'),
  configChanged: core<ConfigChangedEvent>('config.changed', 'config.changed'),
  chatStream: core<ChatStreamMessage, [chatId: string]>('chat.stream', 'chat.{chat_id}.stream'),
  chatBuffer: core<ChatBufferRequest, [chatId: string]>('chat.buffer', 'chat.{chat_id}.buffer'),
  chatEvents: durable<ChatLifecycleEvent, [ownerId: string, chatId: string]>(
    'chat.events',
    'CHAT_EVENTS',
    'chat.events.{owner_id}.{chat_id}',
  ),
  workspaceClaimed: core<WorkspaceClaimedEvent, [workspaceId: string]>(
    'workspace.claimed',
    'workspace.{workspace_id}.claimed',
  ),
  telemetryFirstUser: durable<FirstUserTelemetryEvent>(
    'telemetry.first_user',
    'TELEMETRY',
    'telemetry.first_user',
  ),
  deadLetter: durable<DeadLetter, [stream: string]>('dlq', 'DEAD_LETTERS', 'dlq.{stream}'),
  // AI Bridge records from AI gateways (docs/aibridge-bus.md): one subject per record kind,
  // plus batches of records of any kinds.
  aibridgeInterceptionStarted: aibridge('interception.started'),
  aibridgeInterceptionEnded: aibridge('interception.ended'),
  aibridgeTokenUsage: aibridge('usage.token'),
  aibridgePromptUsage: aibridge('usage.prompt'),
  aibridgeToolUsage: aibridge('usage.tool'),
  aibridgeModelThought: aibridge('usage.thought'),
  aibridgeBatch: durable<AibridgeBatchMessage>('aibridge.batch', 'AIBRIDGE', 'aibridge.batch'),
} as const;

function aibridge<K extends AibridgeKind>(kind: K): SubjectSpec<AibridgeRecordMessage<K>> {
  return durable<AibridgeRecordMessage<K>>(`aibridge.${kind}`, 'AIBRIDGE', `aibridge.${kind}`);
}

/** The subject spec of each AI Bridge record kind, and of batches. */
export const AibridgeSubjects = {
  'interception.started': Subjects.aibridgeInterceptionStarted,
  'interception.ended': Subjects.aibridgeInterceptionEnded,
  'usage.token': Subjects.aibridgeTokenUsage,
  'usage.prompt': Subjects.aibridgePromptUsage,
  'usage.tool': Subjects.aibridgeToolUsage,
  'usage.thought': Subjects.aibridgeModelThought,
  batch: Subjects.aibridgeBatch,
} as const satisfies { [K in AibridgeKind | 'batch']: AnySubject };

const aibridgeKindsByCatalog = new WeakMap<SubjectCatalog, Map<string, AibridgeKind | 'batch'>>();

/** The record kind (or `batch`) a concrete AI Bridge subject carries; undefined for any other subject. */
export function aibridgeKindOfSubject(
  catalog: SubjectCatalog,
  subject: string,
): AibridgeKind | 'batch' | undefined {
  // Built once per catalog: the recorder asks for every message it receives.
  let kinds = aibridgeKindsByCatalog.get(catalog);
  if (!kinds) {
    kinds = new Map(
      Object.entries(AibridgeSubjects).map(([kind, spec]) => [
        catalog.subject(spec),
        kind as AibridgeKind | 'batch',
      ]),
    );
    aibridgeKindsByCatalog.set(catalog, kinds);
  }
  return kinds.get(subject);
}

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

export class InvalidSubjectTokenError extends Error {}

/** Subjects and stream names of one deployment (one prefix). */
export class SubjectCatalog {
  constructor(readonly prefix: string) {}

  /** The concrete subject; every argument must be one safe token (no `.`, `*`, `>`). */
  subject<S extends AnySubject>(spec: S, ...args: ArgsOf<S>): string {
    let i = 0;
    const rel = spec.template.replace(/\{[a-z_]+\}/g, () => {
      const v = (args as string[])[i++];
      if (v === undefined || !TOKEN_RE.test(v)) {
        throw new InvalidSubjectTokenError(`invalid token ${JSON.stringify(v)} for subject ${spec.key}`);
      }
      return v;
    });
    return `${this.prefix}.${rel}`;
  }

  /** Subscription pattern matching every concrete subject of the spec (`*` per parameter). */
  pattern(spec: AnySubject): string {
    return `${this.prefix}.${spec.template.replace(/\{[a-z_]+\}/g, '*')}`;
  }

  /** A prefix-relative subject (as stored in the outbox) made absolute. */
  absolute(relative: string): string {
    return `${this.prefix}.${relative}`;
  }

  relative(subject: string): string {
    if (!subject.startsWith(`${this.prefix}.`))
      throw new InvalidSubjectTokenError(`subject ${subject} is outside prefix ${this.prefix}`);
    return subject.slice(this.prefix.length + 1);
  }

  /**
   * Stream names are the bare keys under the default prefix (`TELEMETRY`); any other prefix
   * namespaces them (`T1A2B_TELEMETRY`) so several deployments or test suites share a server.
   */
  streamName(key: StreamKey): string {
    return this.prefix === 'agentmesh'
      ? key
      : `${this.prefix.replace(/[^A-Za-z0-9_-]/g, '_').toUpperCase()}_${key}`;
  }
}
