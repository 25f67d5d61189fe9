// Chat domain services shared by chat-api and chatd-worker: every write that changes a
// chat's state goes through here (one place per transition), with its outbox events and
// signals.
export * from './chat-mapper';
export * from './turn-persistence.service';
