// The chat endpoints' use cases: resolve and authorize the chat (another user's chat is
// 404), apply the reference's request rules, then call one chat command or read query.
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type {
  Chat,
  ChatMessage,
  ChatMessagesResponse,
  CreateChatMessageResponse,
  ValidationError,
} from '@agentmesh/contracts';
import {
  ChatCommands,
  ChatTitles,
  ChatReadRow,
  chatWithChildren,
  findChat,
  listQueuedMessages,
  listRootChats,
  listVisibleMessages,
  parseChatInputParts,
  parseClientType,
  parseDynamicTools,
  parsePlanMode,
  presentUuid,
  ChatErrors,
  toChatMessage,
} from '@agentmesh/chats';
import { isUuid } from '@agentmesh/entities';
import type { RbacObject } from '@agentmesh/rbac';
import { ApiError } from '../http/api-error';
import { parsePagination, parseSearchQuery, RawQuery, searchParam, throwIfProblems } from '../http/query';
import { AuthContext } from '../auth/auth.types';
import { assertCan, assertVisible, sqlFilter } from '../auth/authz';
import { CreateChatDto } from './dto/create-chat.dto';
import { UpdateChatDto } from './dto/update-chat.dto';
import { CreateChatMessageDto, EditChatMessageDto } from './dto/create-chat-message.dto';
import { SystemPromptService } from '../chat-config';

export const CHATS_DEFAULT_LIMIT = 50;
export const CHATS_MAX_LIMIT = 1000;
export const MESSAGES_DEFAULT_LIMIT = 50;
export const MESSAGES_MAX_LIMIT = 200;

export const ChatApiMessages = {
  organizationRequired: 'organization_id is required.',
  notOrgMember: 'You are not a member of the specified organization.',
  invalidLimit: `Invalid limit parameter (1-${MESSAGES_MAX_LIMIT}).`,
  invalidBeforeId: 'Invalid before_id parameter.',
  invalidMessageId: 'Invalid chat message ID.',
  invalidQueuedMessageId: 'Invalid queued message ID.',
} as const;

/** The RBAC object of a chat; with an empty id it is the type-level "create" check. */
export function chatObject(c: { id: string; owner_id: string; organization_id: string }): RbacObject<'chat'> {
  return { type: 'chat', id: c.id, owner: c.owner_id, orgOwner: c.organization_id };
}

/** A positive int64 path or query id that JavaScript holds exactly; undefined otherwise. */
export function positiveId(raw: unknown): number | undefined {
  if (typeof raw !== 'string' || !/^\d{1,16}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

@Injectable()
export class ChatsService {
  constructor(
    private readonly ds: DataSource,
    private readonly commands: ChatCommands,
    private readonly titles: ChatTitles,
    private readonly systemPrompt: SystemPromptService,
  ) {}

  /** The chat of a `{chat}` path segment, if the caller may `action` it (404 otherwise). */
  async load(auth: AuthContext, ref: string, action: 'read' | 'update' = 'read'): Promise<ChatReadRow> {
    if (!isUuid(ref)) {
      const shown = ref.length > 64 ? `${ref.slice(0, 64)}…` : ref;
      throw new ApiError(
        'bad_request',
        `Invalid UUID ${JSON.stringify(shown)}.`,
        'The chat ID must be a UUID.',
      );
    }
    const chat = await findChat(this.ds, ref);
    if (!chat) throw ApiError.notFound();
    assertVisible(auth, 'read', chatObject(chat));
    if (action !== 'read') assertVisible(auth, action, chatObject(chat));
    return chat;
  }

  /** The create gate: the caller may create chats of its own in the organization (403). */
  private assertMayCreate(auth: AuthContext, organizationId: string): void {
    assertCan(
      auth,
      'create',
      chatObject({ id: '', owner_id: auth.userId, organization_id: organizationId }),
      'You are not allowed to create chats in this organization.',
    );
  }

  async create(auth: AuthContext, dto: CreateChatDto): Promise<Chat> {
    const organizationId = presentUuid(dto.organization_id);
    if (!organizationId) throw new ApiError('bad_request', ChatApiMessages.organizationRequired);
    if (!(organizationId in auth.orgRoles)) throw new ApiError('forbidden', ChatApiMessages.notOrgMember);
    this.assertMayCreate(auth, organizationId);
    const content = parseChatInputParts(dto.content);
    if (presentUuid(dto.workspace_id)) throw new ApiError('bad_request', ChatErrors.workspaceNotFound);
    const planMode = dto.plan_mode == null ? undefined : parsePlanMode(dto.plan_mode);
    const clientType = parseClientType(dto.client_type);
    const dynamicTools = parseDynamicTools(dto.unsafe_dynamic_tools);
    const { chat } = await this.commands.createChat({
      ownerId: auth.userId,
      organizationId,
      content,
      deploymentSystemPrompt: await this.systemPrompt.deploymentSystemPrompt(),
      systemPrompt: dto.system_prompt,
      modelConfigId: dto.model_config_id,
      labels: dto.labels == null ? undefined : (dto.labels as Record<string, string>),
      planMode,
      clientType,
      mcpServerIds: dto.mcp_server_ids ?? undefined,
      dynamicTools,
    });
    return chat;
  }

  async list(auth: AuthContext, query: RawQuery): Promise<Chat[]> {
    const problems: ValidationError[] = [];
    const page = parsePagination(
      query,
      { defaultLimit: CHATS_DEFAULT_LIMIT, maxLimit: CHATS_MAX_LIMIT },
      problems,
    );
    const terms = parseSearchQuery(searchParam(query, problems), ['archived'], problems);
    const free = terms.get('search');
    if (free) problems.push({ field: 'q', detail: `Unsupported search term(s): ${free.join(' ')}` });
    let archived: boolean | undefined;
    const archivedTerm = terms.get('archived');
    if (archivedTerm) {
      if (archivedTerm.length !== 1 || !['true', 'false'].includes(archivedTerm[0]))
        problems.push({ field: 'archived', detail: 'Query param "archived" must be true or false' });
      else archived = archivedTerm[0] === 'true';
    }
    throwIfProblems(problems);
    const labels = parseLabelFilters(query.label);
    if (page.afterId) {
      const [cursor] = await this.ds.query(`SELECT 1 FROM chats WHERE id = $1 AND owner_id = $2`, [
        page.afterId,
        auth.userId,
      ]);
      if (!cursor) throw ApiError.badQuery([{ field: 'after_id', detail: `chat ${page.afterId} not found` }]);
    }
    return listRootChats(this.ds, {
      ownerId: auth.userId,
      archived,
      labels,
      afterId: page.afterId,
      offset: page.offset,
      limit: page.limit,
      where: sqlFilter(auth, 'read', 'chat', {
        idCol: 'c.id',
        ownerCol: 'c.owner_id',
        orgCol: 'c.organization_id',
      }),
    });
  }

  async get(auth: AuthContext, ref: string): Promise<Chat> {
    return chatWithChildren(this.ds, await this.load(auth, ref));
  }

  async update(auth: AuthContext, ref: string, dto: UpdateChatDto): Promise<void> {
    const chat = await this.load(auth, ref, 'update');
    // Every field is optional and JSON null means "unchanged", as for the reference's pointer
    // fields; only the nil uuid unbinds the workspace.
    await this.commands.updateChat(chat.id, {
      title: dto.title ?? undefined,
      archived: dto.archived ?? undefined,
      pinOrder: dto.pin_order ?? undefined,
      labels: dto.labels == null ? undefined : (dto.labels as Record<string, string>),
      planMode: dto.plan_mode == null ? undefined : parsePlanMode(dto.plan_mode),
      workspaceId: dto.workspace_id == null ? undefined : (presentUuid(dto.workspace_id) ?? null),
    });
  }

  async messages(auth: AuthContext, ref: string, query: RawQuery): Promise<ChatMessagesResponse> {
    let limit = MESSAGES_DEFAULT_LIMIT;
    if (query.limit !== undefined && query.limit !== '') {
      const n = positiveId(query.limit);
      if (n === undefined || n > MESSAGES_MAX_LIMIT)
        throw new ApiError('bad_request', ChatApiMessages.invalidLimit);
      limit = n;
    }
    let beforeId: number | undefined;
    if (query.before_id !== undefined && query.before_id !== '') {
      beforeId = positiveId(query.before_id);
      if (beforeId === undefined) throw new ApiError('bad_request', ChatApiMessages.invalidBeforeId);
    }
    const chat = await this.load(auth, ref);
    const page = await listVisibleMessages(this.ds, chat.id, { beforeId, limit });
    return {
      messages: page.messages.map(toChatMessage),
      queued_messages: beforeId === undefined ? await listQueuedMessages(this.ds, chat.id) : [],
      has_more: page.hasMore,
    };
  }

  async send(auth: AuthContext, ref: string, dto: CreateChatMessageDto): Promise<CreateChatMessageResponse> {
    const chat = await this.load(auth, ref);
    this.assertMayCreate(auth, chat.organization_id);
    const busyBehavior = dto.busy_behavior ?? '';
    if (typeof busyBehavior !== 'string') throw new ApiError('bad_request', ChatErrors.invalidBusyBehavior);
    const result = await this.commands.sendMessage(chat.id, {
      content: parseChatInputParts(dto.content),
      createdBy: auth.userId,
      busyBehavior,
      modelConfigId: dto.model_config_id,
      planMode: dto.plan_mode == null ? undefined : parsePlanMode(dto.plan_mode),
      mcpServerIds: dto.mcp_server_ids,
    });
    return {
      ...(result.message ? { message: toChatMessage(result.message) } : {}),
      ...(result.queuedMessage ? { queued_message: result.queuedMessage } : {}),
      queued: result.queued,
    };
  }

  async edit(
    auth: AuthContext,
    ref: string,
    messageRef: string,
    dto: EditChatMessageDto,
  ): Promise<{ message: ChatMessage }> {
    const messageId = positiveId(messageRef);
    if (messageId === undefined) throw new ApiError('bad_request', ChatApiMessages.invalidMessageId);
    const chat = await this.load(auth, ref, 'update');
    const content = parseChatInputParts(dto.content);
    const message = await this.commands.editMessage(chat.id, messageId, { content, editedBy: auth.userId });
    return { message: toChatMessage(message) };
  }

  async deleteQueued(auth: AuthContext, ref: string, queuedRef: string): Promise<void> {
    const queuedId = positiveId(queuedRef);
    if (queuedId === undefined) throw new ApiError('bad_request', ChatApiMessages.invalidQueuedMessageId);
    const chat = await this.load(auth, ref, 'update');
    await this.commands.deleteQueued(chat.id, queuedId);
  }

  async promote(auth: AuthContext, ref: string, queuedRef: string): Promise<ChatMessage> {
    const queuedId = positiveId(queuedRef);
    if (queuedId === undefined) throw new ApiError('bad_request', ChatApiMessages.invalidQueuedMessageId);
    const chat = await this.load(auth, ref);
    this.assertMayCreate(auth, chat.organization_id);
    return toChatMessage(await this.commands.promoteQueued(chat.id, queuedId));
  }

  /** A title written by a model from the conversation; needs update permission (404). */
  async regenerateTitle(auth: AuthContext, ref: string): Promise<Chat> {
    const chat = await this.load(auth, ref, 'update');
    await this.titles.regenerate(chat.id);
    return chatWithChildren(this.ds, await this.load(auth, chat.id));
  }

  async interrupt(auth: AuthContext, ref: string): Promise<Chat> {
    const chat = await this.load(auth, ref, 'update');
    await this.commands.interrupt(chat.id);
    return chatWithChildren(this.ds, (await findChat(this.ds, chat.id)) ?? chat);
  }
}

/** Repeated `label=key:value` filters (AND); a malformed one is 400. */
export function parseLabelFilters(raw: unknown): Record<string, string>[] {
  if (raw === undefined) return [];
  const values = Array.isArray(raw) ? raw : [raw];
  return values.map((v) => {
    const s = typeof v === 'string' ? v : '';
    const at = s.indexOf(':');
    const key = at > 0 ? s.slice(0, at) : '';
    const value = at > 0 ? s.slice(at + 1) : '';
    if (!key || !value) {
      const shown = s.length > 64 ? `${s.slice(0, 64)}…` : s;
      throw new ApiError(
        'bad_request',
        `Invalid label filter: ${JSON.stringify(shown)} (expected key:value with both parts non-empty).`,
      );
    }
    return { [key]: value };
  });
}
