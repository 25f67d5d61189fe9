// /api/experimental/chats: chats, their messages and queue.
import { Module } from '@nestjs/common';
import { ChatsDomainModule } from '@agentmesh/chats';
import { ChatConfigModule } from '../chat-config/chat-config.module';
import { ChatsController } from './chats.controller';
import { ChatsService } from './chats.service';

@Module({
  imports: [ChatsDomainModule, ChatConfigModule],
  controllers: [ChatsController],
  providers: [ChatsService],
})
export class ChatsModule {}
