// A chat turn against a real model: load the model and history, stream the model's answer,
// publishing every part live with a per-turn `seq` (and answering buffer requests from
// stream sockets that connect mid-step), retry retryable failures with backoff (publishing
// `retry` events), then persist the assistant row with usage, cost and runtime and set the
// final status. Ownership is re-checked on every write (TurnPersistence): an interrupt keeps
// the partial answer, an edit or a steal makes the writes no-ops.
import { Inject, Injectable } from '@nestjs/common';
import type { Subscription } from '@nats-io/transport-node';
import { DataSource } from 'typeorm';
import type { ModelMessage } from 'ai';
import type { Logger } from 'pino';
import type { ChatMessagePart, ChatStreamEvent } from '@agentmesh/contracts';
import { BusService, Subjects } from '@agentmesh/bus';
import { ChatTitles, loadTurnModel, TurnModel, TurnPersistence, TurnSetupError } from '@agentmesh/chats';
import { Ciphers } from '@agentmesh/crypto';
import {
  callSettingsFromConfig,
  classifyLlmError,
  ClassifiedLlmError,
  costMicrosForUsage,
  createLanguageModel,
  LlmAbortedError,
  LlmCallError,
  LlmStepContent,
  retryDelayMs,
  shouldRetry,
  StepAccumulator,
  streamModel,
} from '@agentmesh/llm';
import { LOGGER, Metrics } from '@agentmesh/observability';
import { loadHistory } from './turn-inputs';
import { TurnContext, TurnRunner } from './turn-runner';

export const TURN_OPTIONS = Symbol('agentmesh.chatd.turnOptions');
export interface TurnOptions {
  firstChunkTimeoutMs: number;
  autoTitle: boolean;
}

/** Parts of the step in progress, replayable to sockets that connect mid-step. */
class StepBuffer {
  private events: ChatStreamEvent[] = [];
  private seq = 0;
  constructor(private readonly chatId: string) {}

  next(part: ChatMessagePart): ChatStreamEvent {
    const event: ChatStreamEvent = {
      type: 'message_part',
      chat_id: this.chatId,
      message_part: { role: 'assistant', part, seq: ++this.seq },
    };
    this.events.push(event);
    return event;
  }

  after(seq = 0): ChatStreamEvent[] {
    return this.events.filter((e) => e.type === 'message_part' && (e.message_part.seq ?? 0) > seq);
  }

  /** A retry discards the partial output (clients are told by the `retry` event). */
  clear(): void {
    this.events = [];
  }
}

@Injectable()
export class LlmTurnRunner implements TurnRunner {
  private readonly turns;
  private readonly retries;

  constructor(
    private readonly ds: DataSource,
    private readonly bus: BusService,
    private readonly persistence: TurnPersistence,
    private readonly ciphers: Ciphers,
    private readonly titles: ChatTitles,
    @Inject(TURN_OPTIONS) private readonly opts: TurnOptions,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.turns = metrics.counter('chatd_turns_total', 'Turns finished, by outcome', ['outcome']);
    this.retries = metrics.counter('chatd_llm_retries_total', 'Model calls retried, by error kind', ['kind']);
  }

  async run({ chat, workerId, signal, background }: TurnContext): Promise<void> {
    const buffer = new StepBuffer(chat.id);
    const bufferSub = this.serveBuffer(chat.id, workerId, buffer);
    try {
      const title = await this.runTurn(chat, workerId, signal, buffer);
      // The automatic title runs after the turn, outside it: it holds no capacity slot, and the
      // heartbeat does not see a chat that is no longer running as lost.
      if (title && this.opts.autoTitle && background)
        background((cancel) =>
          this.titles.maybeGenerate(chat.id, title.model, { answerId: title.answerId, signal: cancel }),
        );
    } catch (e) {
      // Anything unexpected ends the turn in error now instead of leaving the chat running
      // until the stale sweep (which would retry a deterministic failure forever).
      this.logger.error({ err: e, chat_id: chat.id }, 'turn failed unexpectedly');
      await this.finish(chat.id, workerId, {
        status: 'error',
        lastError: 'The turn failed unexpectedly.',
      }).catch((err: unknown) =>
        this.logger.error({ err, chat_id: chat.id }, 'could not record the failed turn'),
      );
    } finally {
      bufferSub.unsubscribe();
    }
  }

  private async runTurn(
    chat: TurnContext['chat'],
    workerId: string,
    signal: AbortSignal,
    buffer: StepBuffer,
  ): Promise<{ model: TurnModel; answerId: number } | undefined> {
    this.persistence.publish(chat.id, [{ type: 'status', chat_id: chat.id, status: { status: 'running' } }]);
    // And to the owner's `/watch` sockets (before this turn's end, through the same outbox).
    await this.persistence
      .announceStatus([chat.id])
      .catch((e: unknown) =>
        this.logger.warn({ err: e, chat_id: chat.id }, 'could not announce the running chat'),
      );
    let model: TurnModel;
    try {
      model = await loadTurnModel(this.ds, this.ciphers, chat.last_model_config_id);
    } catch (e) {
      if (!(e instanceof TurnSetupError)) throw e;
      await this.finish(chat.id, workerId, { status: 'error', lastError: e.message });
      return undefined;
    }
    // Loaded once, outside the retry loop: a database error is not a model failure.
    const { answered, ...history } = await loadHistory(this.ds, chat.id);
    if (answered) {
      // A previous worker saved this turn's answer and died before ending the turn (the
      // stale sweep handed the chat back): end it now instead of answering twice.
      this.logger.warn({ chat_id: chat.id }, 'turn already answered; ending it without a model call');
      await this.finish(chat.id, workerId, { status: 'waiting' });
      return undefined;
    }
    const started = Date.now();
    const outcome = await this.streamWithRetries(chat.id, model, history, buffer, signal);
    if (outcome.kind === 'aborted' && signal.reason === 'shutdown') {
      // Hand the chat back untouched: another worker redoes the step from the start.
      await this.finish(chat.id, workerId, { status: 'pending' });
      return undefined;
    }
    if (outcome.kind === 'failed') {
      // The provider's own text (`detail`) stays in the logs: some servers echo the key back.
      const { kind, provider, statusCode } = outcome.error;
      await this.finish(chat.id, workerId, {
        status: 'error',
        lastError: outcome.error.message,
        error: { kind, provider, ...(statusCode !== undefined ? { status_code: statusCode } : {}) },
      });
      return undefined;
    }
    // Completed, or interrupted/stolen with a partial answer: persist what we have; the
    // ownership check decides whether it lands.
    const saved = await this.persistAssistant(
      chat.id,
      workerId,
      model,
      outcome.content,
      Date.now() - started,
    );
    if (saved === 'lost') return undefined;
    await this.finish(chat.id, workerId, { status: 'waiting' });
    // A first answer, complete or interrupted, may earn the chat its title.
    return typeof saved === 'number' ? { model, answerId: saved } : undefined;
  }

  private async streamWithRetries(
    chatId: string,
    model: TurnModel,
    history: { system: string; messages: ModelMessage[] },
    buffer: StepBuffer,
    signal: AbortSignal,
  ): Promise<
    { kind: 'done' | 'aborted'; content: LlmStepContent } | { kind: 'failed'; error: ClassifiedLlmError }
  > {
    for (let attempt = 1; ; attempt++) {
      const acc = new StepAccumulator();
      try {
        const parts = streamModel({
          model: createLanguageModel(
            { provider: model.provider, apiKey: model.apiKey, baseUrl: model.baseUrl },
            model.model,
          ),
          provider: model.provider,
          ...history,
          settings: callSettingsFromConfig(model.provider, model.options),
          abortSignal: signal,
          firstChunkTimeoutMs: this.opts.firstChunkTimeoutMs,
        });
        for await (const part of parts) {
          acc.add(part);
          const wire = toWirePart(part);
          if (wire) this.persistence.publish(chatId, [buffer.next(wire)]);
        }
        return { kind: 'done', content: acc.content() };
      } catch (e) {
        if (e instanceof LlmAbortedError || signal.aborted)
          return { kind: 'aborted', content: acc.content() };
        const error =
          e instanceof LlmCallError ? e.classification : classifyLlmError(e, { provider: model.provider });
        if (!shouldRetry(error, attempt)) return { kind: 'failed', error };
        const delay = retryDelayMs(attempt, error.retryAfterMs);
        this.retries.labels(error.kind).inc();
        buffer.clear();
        this.persistence.publish(chatId, [
          {
            type: 'retry',
            chat_id: chatId,
            retry: {
              attempt,
              delay_ms: delay,
              error: error.message,
              kind: error.kind,
              provider: error.provider,
              ...(error.statusCode ? { status_code: error.statusCode } : {}),
              retrying_at: new Date(Date.now() + delay).toISOString(),
            },
          },
        ]);
        this.logger.warn(
          { chat_id: chatId, attempt, delay_ms: delay, kind: error.kind },
          'model call failed; retrying',
        );
        // Aborted during the backoff: the failed attempt's output was already discarded.
        if (!(await sleep(delay, signal)))
          return { kind: 'aborted', content: new StepAccumulator().content() };
      }
    }
  }

  private async persistAssistant(
    chatId: string,
    workerId: string,
    model: TurnModel,
    content: LlmStepContent,
    runtimeMs: number,
  ): Promise<number | 'empty' | 'lost'> {
    const parts: ChatMessagePart[] = content.parts.map((p) =>
      p.type === 'tool-call'
        ? { type: 'tool-call', tool_call_id: p.toolCallId, tool_name: p.toolName, args: safeJson(p.args) }
        : p.type === 'reasoning'
          ? { type: 'reasoning', text: p.text, ...(p.signature ? { signature: p.signature } : {}) }
          : { type: 'text', text: p.text },
    );
    if (parts.length === 0 && !content.usage) return 'empty';
    const u = content.usage;
    const saved = await this.persistence.persistStep(chatId, workerId, [
      {
        role: 'assistant',
        content: parts,
        modelConfigId: model.modelConfigId,
        inputTokens: u?.inputTokens,
        outputTokens: u?.outputTokens,
        totalTokens: u?.totalTokens,
        reasoningTokens: u?.reasoningTokens,
        cacheReadTokens: u?.cacheReadTokens,
        cacheCreationTokens: u?.cacheWriteTokens,
        contextLimit: model.contextLimit,
        totalCostMicros: u ? (costMicrosForUsage(u, model.options) ?? null) : null,
        runtimeMs,
        providerResponseId: content.providerResponseId ?? null,
      },
    ]);
    // The id of the answer row: the automatic title judges the chat up to it.
    return saved ? (saved.find((m) => m.role === 'assistant')?.id ?? 'empty') : 'lost';
  }

  private async finish(
    chatId: string,
    workerId: string,
    outcome: Parameters<TurnPersistence['finishTurn']>[2],
  ): Promise<void> {
    const result = await this.persistence.finishTurn(chatId, workerId, outcome);
    this.turns.labels(result.applied ? outcome.status : 'lost').inc();
  }

  /** Answers `{p}.chat.{id}.buffer` requests with the step's parts after `after_seq`. */
  private serveBuffer(chatId: string, workerId: string, buffer: StepBuffer): Subscription {
    return this.bus.subscribe(
      Subjects.chatBuffer,
      (req, meta) => meta.reply?.({ v: 1, worker_id: workerId, events: buffer.after(req.after_seq) }),
      {
        args: [chatId],
        onError: (e) => this.logger.warn({ err: e, chat_id: chatId }, 'buffer request failed'),
      },
    );
  }
}

/** The live form of a stream part (deltas), or undefined for parts clients do not see. */
function toWirePart(part: Parameters<StepAccumulator['add']>[0]): ChatMessagePart | undefined {
  switch (part.type) {
    case 'text-delta':
      return { type: 'text', text: part.text };
    case 'reasoning-delta':
      return { type: 'reasoning', text: part.text };
    case 'tool-call-start':
      return { type: 'tool-call', tool_call_id: part.toolCallId, tool_name: part.toolName };
    case 'tool-call-delta':
      return { type: 'tool-call', tool_call_id: part.toolCallId, args_delta: part.argsDelta };
    default:
      return undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Waits `ms`; false when the signal aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
