// Live updates (stream and watch WebSockets).
export { ChatStreamModule } from './chat-stream.module';
export { installChatSockets } from './chat-sockets.routes';
