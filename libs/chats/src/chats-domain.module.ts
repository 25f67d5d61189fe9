// DI wiring of the chat domain: the user-side commands and the worker-side persistence.
// Needs the global DataSource (DatabaseModule), BusService/OutboxService (BusModule) and the
// logger (ObservabilityModule) that every app root provides, and `Ciphers` (titles decrypt
// provider keys).
import { Module } from '@nestjs/common';
import { ChatCommands } from './chat-commands.service';
import { ChatTitles } from './chat-titles.service';
import { TurnPersistence } from './turn-persistence.service';

@Module({
  providers: [ChatCommands, TurnPersistence, ChatTitles],
  exports: [ChatCommands, TurnPersistence, ChatTitles],
})
export class ChatsDomainModule {}
