// DI wiring of the chat domain: the user-side commands and the worker-side persistence.
// Needs the global DataSource (DatabaseModule), BusService/OutboxService (BusModule) and the
// logger (ObservabilityModule) that every app root provides.
import { Module } from '@nestjs/common';
import { ChatCommands } from './chat-commands.service';
import { TurnPersistence } from './turn-persistence.service';

@Module({
  providers: [ChatCommands, TurnPersistence],
  exports: [ChatCommands, TurnPersistence],
})
export class ChatsDomainModule {}
