// Wire encoding of the socket frames (wire contract §3.5): a `/stream` frame is a JSON array
// of at most 256 ChatStreamEvents followed by "\n"; a `/watch` frame is one ChatWatchEvent
// `{kind, chat, tool_calls?}` (the bus envelope's `v` dropped), also followed by "\n" as the
// reference's JSON encoder writes it.
import type { ChatLifecycleEvent, ChatStreamEvent, ChatWatchEvent } from '@agentmesh/contracts';

export const MAX_EVENTS_PER_FRAME = 256;

/** The frames carrying `events` in order; none for no events. */
export function streamFrames(events: readonly ChatStreamEvent[]): string[] {
  const frames: string[] = [];
  for (let i = 0; i < events.length; i += MAX_EVENTS_PER_FRAME)
    frames.push(`${JSON.stringify(events.slice(i, i + MAX_EVENTS_PER_FRAME))}\n`);
  return frames;
}

/** One watch frame from a CHAT_EVENTS payload. */
export function watchFrame(payload: ChatLifecycleEvent): string {
  const event: ChatWatchEvent = {
    kind: payload.kind,
    chat: payload.chat,
    ...(payload.tool_calls ? { tool_calls: payload.tool_calls } : {}),
  };
  return `${JSON.stringify(event)}\n`;
}
