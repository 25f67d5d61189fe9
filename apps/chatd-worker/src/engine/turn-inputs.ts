// The model-visible history of a chat as AI SDK messages (the model itself comes from
// loadTurnModel in @agentmesh/chats).
import type { ModelMessage } from 'ai';
import type { DataSource } from 'typeorm';
import type { ChatMessagePart } from '@agentmesh/contracts';

interface HistoryRow {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: ChatMessagePart[] | null;
}

/**
 * Model-visible, non-deleted messages in order: system text apart, the rest as messages.
 * `answered` says the newest of them is an assistant message: the last turn's answer was
 * saved and there is nothing new to answer (its worker died before ending the turn).
 */
export async function loadHistory(
  ds: DataSource,
  chatId: string,
): Promise<{ system: string; messages: ModelMessage[]; answered: boolean }> {
  const rows: HistoryRow[] = await ds.query(
    `SELECT role, content FROM chat_messages
      WHERE chat_id = $1 AND NOT deleted AND visibility IN ('model', 'both')
      ORDER BY id`,
    [chatId],
  );
  const system: string[] = [];
  const messages: ModelMessage[] = [];
  for (const r of rows) {
    const parts = r.content ?? [];
    const text = parts
      .filter((p) => p.type === 'text' && p.text)
      .map((p) => ({ type: 'text' as const, text: p.text as string }));
    if (r.role === 'system') system.push(text.map((t) => t.text).join('\n'));
    else if (r.role === 'user' && text.length > 0) messages.push({ role: 'user', content: text });
    else if (r.role === 'assistant' && text.length > 0) messages.push({ role: 'assistant', content: text });
  }
  return {
    system: system.filter(Boolean).join('\n\n'),
    messages,
    answered: rows.at(-1)?.role === 'assistant',
  };
}
