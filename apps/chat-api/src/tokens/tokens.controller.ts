// /api/v2/users/{user}/keys: API tokens (named, scoped) and plain session keys.
import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { APIKey, GenerateAPIKeyResponse } from '@agentmesh/contracts';
import { Auth } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { CreateTokenDto } from '../users/dto/create-token.dto';
import { checkRef } from '../http/params';
import { TokensService } from './tokens.service';

@Controller('api/v2/users/:user/keys')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post('tokens')
  @HttpCode(201)
  createToken(
    @Auth() auth: AuthContext,
    @Param('user') ref: string,
    @Body() dto: CreateTokenDto,
  ): Promise<GenerateAPIKeyResponse> {
    return this.tokens.createToken(auth, checkRef(ref), dto);
  }

  @Get('tokens')
  listTokens(@Auth() auth: AuthContext, @Param('user') ref: string): Promise<APIKey[]> {
    return this.tokens.listTokens(auth, checkRef(ref));
  }

  @Post()
  @HttpCode(201)
  createKey(@Auth() auth: AuthContext, @Param('user') ref: string): Promise<GenerateAPIKeyResponse> {
    return this.tokens.createSessionKey(auth, checkRef(ref));
  }

  @Delete(':keyid')
  @HttpCode(204)
  async deleteKey(
    @Auth() auth: AuthContext,
    @Param('user') ref: string,
    @Param('keyid') keyId: string,
  ): Promise<void> {
    await this.tokens.deleteKey(auth, checkRef(ref), keyId);
  }
}
