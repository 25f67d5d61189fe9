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
  // The stream socket authorizes its chat with ChatsService.load, like every chat route.
  exports: [ChatsService],
})
export class ChatsModule {}
