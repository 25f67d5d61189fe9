// chat-api entry point: the public HTTP API (identity today; chats, AI Bridge reads next).
import { chatApiSchema, loadConfig } from '@agentmesh/config';
import { runMain } from '@agentmesh/observability';
import { chatApiOptions } from './bootstrap';

runMain(chatApiOptions(() => loadConfig(chatApiSchema)));
