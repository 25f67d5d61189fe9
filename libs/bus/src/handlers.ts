// Handler registration by decorator. An app lists the subjects and consumers it listens
// to in BusModule.forRoot; at startup every listed one must have exactly one handler and
// every handler must be listed, otherwise the process refuses to start (a typo or a
// forgotten provider would otherwise silently drop messages).
import { SetMetadata } from '@nestjs/common';
import type { ConsumerDef } from './streams';
import type { AnySubject } from './subjects';

export const BUS_HANDLER = Symbol('agentmesh.bus.handler');

export type HandlerTarget =
  { kind: 'subject'; subject: AnySubject; queue?: string } | { kind: 'consumer'; consumer: ConsumerDef };

export function handlerKey(t: HandlerTarget): string {
  return t.kind === 'subject'
    ? `subject:${t.subject.key}`
    : `consumer:${t.consumer.stream}/${t.consumer.durable}`;
}

/** Marks a provider method as the handler of a core NATS subject. */
export const OnBusMessage = (subject: AnySubject, opts: { queue?: string } = {}) =>
  SetMetadata(BUS_HANDLER, { kind: 'subject', subject, queue: opts.queue } satisfies HandlerTarget);

/** Marks a provider method as the handler of a durable JetStream consumer. */
export const OnJetStreamMessage = (consumer: ConsumerDef) =>
  SetMetadata(BUS_HANDLER, { kind: 'consumer', consumer } satisfies HandlerTarget);

export class HandlerRegistrationError extends Error {}

function targetDetails(t: HandlerTarget): string {
  if (t.kind === 'subject') return `queue ${JSON.stringify(t.queue ?? null)}`;
  // What the consumer is must agree (stream, durable, filter, and whether the handler takes
  // batches); its tuning (ack wait, redelivery, batch sizes), often from config, comes from
  // the app's declaration.
  const { stream, durable, filter, batch } = t.consumer;
  return `consumer ${JSON.stringify({ stream, durable, filter, batch: batch ? 'yes' : 'no' })}`;
}

/** Pure check used at startup; returns the problems (empty = fine). */
export function checkHandlers(
  declared: HandlerTarget[],
  found: { target: HandlerTarget; where: string }[],
): string[] {
  const problems: string[] = [];
  for (const key of new Set(declared.map(handlerKey))) {
    const owners = found.filter((f) => handlerKey(f.target) === key);
    if (owners.length === 0) problems.push(`${key} is subscribed but has no handler`);
    if (owners.length > 1)
      problems.push(`${key} has ${owners.length} handlers (${owners.map((o) => o.where).join(', ')})`);
  }
  for (const f of found) {
    const key = handlerKey(f.target);
    const twin = declared.find((d) => handlerKey(d) === key);
    if (!twin) problems.push(`${f.where} handles ${key}, which this app does not subscribe to`);
    else if (targetDetails(twin) !== targetDetails(f.target)) {
      // The declared target is what gets provisioned; a handler expecting another queue group
      // or other consumer settings would silently run with the wrong ones.
      problems.push(
        `${f.where} handles ${key} with ${targetDetails(f.target)} but the app declares ${targetDetails(twin)}`,
      );
    }
  }
  return problems;
}
