// /api/v2/aibridge: the AI Bridge read API (interceptions, sessions, a session's threads, the
// model and client pickers). Query parameters are parsed and validated by the service.
import { Controller, Get, Param, Query } from '@nestjs/common';
import type {
  AIBridgeListInterceptionsResponse,
  AIBridgeListSessionsResponse,
  AIBridgeSessionThreadsResponse,
} from '@agentmesh/contracts';
import { Auth } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { RawQuery } from '../http/query';
import { AibridgeService } from './aibridge.service';

@Controller('api/v2/aibridge')
export class AibridgeController {
  constructor(private readonly aibridge: AibridgeService) {}

  @Get('interceptions')
  interceptions(
    @Auth() auth: AuthContext,
    @Query() query: RawQuery,
  ): Promise<AIBridgeListInterceptionsResponse> {
    return this.aibridge.listInterceptions(auth, query);
  }

  @Get('sessions')
  sessions(@Auth() auth: AuthContext, @Query() query: RawQuery): Promise<AIBridgeListSessionsResponse> {
    return this.aibridge.listSessions(auth, query);
  }

  @Get('sessions/:session_id')
  sessionThreads(
    @Auth() auth: AuthContext,
    @Param('session_id') sessionId: string,
    @Query() query: RawQuery,
  ): Promise<AIBridgeSessionThreadsResponse> {
    return this.aibridge.sessionThreads(auth, sessionId, query);
  }

  @Get('models')
  models(@Auth() auth: AuthContext, @Query() query: RawQuery): Promise<string[]> {
    return this.aibridge.listModels(auth, query);
  }

  @Get('clients')
  clients(@Auth() auth: AuthContext, @Query() query: RawQuery): Promise<string[]> {
    return this.aibridge.listClients(auth, query);
  }
}
