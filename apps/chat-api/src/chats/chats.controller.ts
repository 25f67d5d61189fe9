// /api/experimental/chats: the chat list, one chat, its messages and queue, interrupt, title
// regeneration.
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Query,
  Req,
  UseInterceptors,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type {
  Chat,
  ChatMessage,
  ChatMessagesResponse,
  CreateChatMessageResponse,
} from '@agentmesh/contracts';
import { ErrorMessages } from '@agentmesh/contracts';
import { Auth } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { ApiError } from '../http/api-error';
import { RawQuery } from '../http/query';
import { validateBody } from '../http/validation';
import { ChatErrorsInterceptor } from './chat-errors.interceptor';
import { ChatsService } from './chats.service';
import { CreateChatDto } from './dto/create-chat.dto';
import { CreateChatMessageDto, EditChatMessageDto } from './dto/create-chat-message.dto';
import { UpdateChatDto } from './dto/update-chat.dto';

/** Chat creation bodies are capped below the app-wide limit. */
export const CREATE_CHAT_BODY_LIMIT = 256 * 1024;

function bodySize(req: FastifyRequest, body: unknown): number {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > 0
    ? declared
    : Buffer.byteLength(JSON.stringify(body ?? null));
}

@Controller('api/experimental/chats')
@UseInterceptors(ChatErrorsInterceptor)
export class ChatsController {
  constructor(private readonly chats: ChatsService) {}

  @Get()
  list(@Auth() auth: AuthContext, @Query() query: RawQuery): Promise<Chat[]> {
    return this.chats.list(auth, query);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() auth: AuthContext, @Req() req: FastifyRequest, @Body() body: unknown): Promise<Chat> {
    if (bodySize(req, body) > CREATE_CHAT_BODY_LIMIT)
      throw new ApiError(
        'bad_request',
        ErrorMessages.invalidRequestBody,
        `The request body must be at most ${CREATE_CHAT_BODY_LIMIT / 1024} KiB.`,
      );
    return this.chats.create(auth, validateBody(CreateChatDto, body));
  }

  @Get(':chat')
  get(@Auth() auth: AuthContext, @Param('chat') chat: string): Promise<Chat> {
    return this.chats.get(auth, chat);
  }

  @Patch(':chat')
  @HttpCode(204)
  async update(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Body() dto: UpdateChatDto,
  ): Promise<void> {
    await this.chats.update(auth, chat, dto);
  }

  @Get(':chat/messages')
  messages(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Query() query: RawQuery,
  ): Promise<ChatMessagesResponse> {
    return this.chats.messages(auth, chat, query);
  }

  @Post(':chat/messages')
  @HttpCode(200)
  send(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Body() dto: CreateChatMessageDto,
  ): Promise<CreateChatMessageResponse> {
    return this.chats.send(auth, chat, dto);
  }

  @Patch(':chat/messages/:message')
  edit(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Param('message') message: string,
    @Body() dto: EditChatMessageDto,
  ): Promise<{ message: ChatMessage }> {
    return this.chats.edit(auth, chat, message, dto);
  }

  @Delete(':chat/queue/:queued')
  @HttpCode(204)
  async deleteQueued(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Param('queued') queued: string,
  ): Promise<void> {
    await this.chats.deleteQueued(auth, chat, queued);
  }

  @Post(':chat/queue/:queued/promote')
  @HttpCode(200)
  promote(
    @Auth() auth: AuthContext,
    @Param('chat') chat: string,
    @Param('queued') queued: string,
  ): Promise<ChatMessage> {
    return this.chats.promote(auth, chat, queued);
  }

  @Post(':chat/title/regenerate')
  @HttpCode(200)
  regenerateTitle(@Auth() auth: AuthContext, @Param('chat') chat: string): Promise<Chat> {
    return this.chats.regenerateTitle(auth, chat);
  }

  @Post(':chat/interrupt')
  @HttpCode(200)
  interrupt(@Auth() auth: AuthContext, @Param('chat') chat: string): Promise<Chat> {
    return this.chats.interrupt(auth, chat);
  }
}
