// /api/experimental/chats/providers, /model-configs and /config/system-prompt. The admin
// check runs before the body is validated, so a caller who may not write learns nothing
// from the validation errors.
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put } from '@nestjs/common';
import { ChatModelConfig, ChatProviderConfig } from '@agentmesh/contracts';
import { isUuid } from '@agentmesh/entities';
import { Auth } from '../auth/auth.guard';
import { AuthContext } from '../auth/auth.types';
import { ApiError } from '../http/api-error';
import { validateBody } from '../http/validation';
import { assertConfigAdmin, assertConfigReader, canUpdateDeploymentConfig } from './chat-config.authz';
import { Messages } from './constants';
import { CreateModelConfigDto, UpdateModelConfigDto } from './dto/model-config.dto';
import { CreateProviderDto, UpdateProviderDto } from './dto/provider.dto';
import { UpdateSystemPromptDto } from './dto/system-prompt.dto';
import { ModelConfigsService } from './model-configs.service';
import { ProvidersService } from './providers.service';
import { SystemPromptConfig, SystemPromptService } from './system-prompt.service';

/** A `{id}` path segment: a uuid, else 400 with the reference's message. */
function parseId(raw: string, message: string): string {
  if (!isUuid(raw)) throw new ApiError('bad_request', message, `"${raw.slice(0, 64)}" is not a valid uuid.`);
  return raw.toLowerCase();
}

@Controller('api/experimental/chats/providers')
export class ProvidersController {
  constructor(private readonly providers: ProvidersService) {}

  @Get()
  list(@Auth() auth: AuthContext): Promise<ChatProviderConfig[]> {
    assertConfigReader(auth);
    return this.providers.list();
  }

  @Post()
  @HttpCode(201)
  create(@Auth() auth: AuthContext, @Body() body: unknown): Promise<ChatProviderConfig> {
    assertConfigAdmin(auth);
    return this.providers.create(auth, validateBody(CreateProviderDto, body));
  }

  @Patch(':id')
  update(
    @Auth() auth: AuthContext,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<ChatProviderConfig> {
    assertConfigAdmin(auth);
    const providerId = parseId(id, Messages.invalidProviderId);
    return this.providers.update(providerId, validateBody(UpdateProviderDto, body));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    assertConfigAdmin(auth);
    await this.providers.delete(parseId(id, Messages.invalidProviderId));
  }
}

@Controller('api/experimental/chats/model-configs')
export class ModelConfigsController {
  constructor(private readonly configs: ModelConfigsService) {}

  @Get()
  list(@Auth() auth: AuthContext): Promise<ChatModelConfig[]> {
    return this.configs.list(auth);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() auth: AuthContext, @Body() body: unknown): Promise<ChatModelConfig> {
    assertConfigAdmin(auth);
    return this.configs.create(auth, validateBody(CreateModelConfigDto, body));
  }

  @Patch(':id')
  update(
    @Auth() auth: AuthContext,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<ChatModelConfig> {
    assertConfigAdmin(auth);
    const configId = parseId(id, Messages.invalidModelConfigId);
    return this.configs.update(auth, configId, validateBody(UpdateModelConfigDto, body));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    assertConfigAdmin(auth);
    await this.configs.delete(parseId(id, Messages.invalidModelConfigId));
  }
}

@Controller('api/experimental/chats/config/system-prompt')
export class SystemPromptController {
  constructor(private readonly prompts: SystemPromptService) {}

  /** 404 unless the caller may update deployment config (the reference hides it). */
  @Get()
  get(@Auth() auth: AuthContext): Promise<SystemPromptConfig> {
    if (!canUpdateDeploymentConfig(auth)) throw ApiError.notFound();
    return this.prompts.get();
  }

  @Put()
  @HttpCode(204)
  async put(@Auth() auth: AuthContext, @Body() body: unknown): Promise<void> {
    assertConfigAdmin(auth);
    const dto = validateBody(UpdateSystemPromptDto, body);
    await this.prompts.update(dto.system_prompt, dto.include_default_system_prompt);
  }
}
