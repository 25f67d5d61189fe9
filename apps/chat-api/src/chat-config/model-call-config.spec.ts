// The model options validator and the deployment prompt helpers, without a server.
import type { DataSource } from 'typeorm';
import type { Logger } from 'pino';
import { ApiError } from '../http/api-error';
import { ConfigEvents } from './config-events.service';
import { DEFAULT_SYSTEM_PROMPT } from './constants';
import { formatDecimal, normalizeModelCallConfig, toWireModelCallConfig } from './model-call-config';
import { composeDeploymentPrompt, sanitizePrompt, SystemPromptService } from './system-prompt.service';
import { parseDecimal } from '@agentmesh/llm';

const price = (v: string | number) => {
  const d = parseDecimal(v);
  return formatDecimal(d.units, d.scale);
};

function problem(input: unknown): { detail?: string; field?: string } {
  try {
    normalizeModelCallConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    const err = e as ApiError;
    expect(err.status).toBe(400);
    expect(err.message).toBe('Invalid model config.');
    return { detail: err.detail, field: err.validations?.[0]?.field };
  }
  throw new Error('expected a validation error');
}

describe('formatDecimal', () => {
  it.each([
    ['0.15', '0.15'],
    ['10.00', '10'],
    [1.5, '1.5'],
    ['1e-7', '0.0000001'],
    [1e-7, '0.0000001'],
    ['2.5E3', '2500'],
    ['+3', '3'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['0', '0'],
    ['-0.0', '0'],
    ['000.120', '0.12'],
  ])('%p → %p', (input, expected) => {
    expect(price(input)).toBe(expected);
  });
});

describe('normalizeModelCallConfig', () => {
  it('treats absent and null as no options and drops nulls and empty objects', () => {
    expect(normalizeModelCallConfig(undefined)).toEqual({});
    expect(normalizeModelCallConfig(null)).toEqual({});
    expect(
      normalizeModelCallConfig({
        temperature: null,
        cost: { input_price_per_million_tokens: null, output_price_per_million_tokens: '' },
        provider_options: { openai: {}, anthropic: null, google: { thinking_config: null } },
      }),
    ).toEqual({});
  });

  it('folds legacy top-level prices into cost; cost wins for the same key', () => {
    expect(
      normalizeModelCallConfig({
        input_price_per_million_tokens: 9,
        output_price_per_million_tokens: 2,
        cost: { input_price_per_million_tokens: '1.10' },
      }),
    ).toEqual({ cost: { input_price_per_million_tokens: '1.1', output_price_per_million_tokens: '2' } });
  });

  it('checks the typed provider options and keeps the rest opaque', () => {
    const options = {
      provider_options: {
        anthropic: { thinking: { budget_tokens: 2048, extra: 1 }, effort: 'max', beta: ['x'] },
        google: { thinking_config: { thinking_budget: -1, include_thoughts: true } },
        openaicompat: { reasoning_effort: 'minimal', chat_template_kwargs: { enable_thinking: true } },
        openrouter: { reasoning: { effort: 'low', max_tokens: 100 } },
        vercel: { reasoning: { effort: 'xhigh' } },
      },
    };
    expect(normalizeModelCallConfig(options)).toEqual(options);
    expect(problem({ provider_options: { anthropic: { thinking: { budget_tokens: 0 } } } })).toEqual({
      detail: 'provider_options.anthropic.thinking.budget_tokens must be greater than 0',
      field: 'model_config.provider_options.anthropic.thinking.budget_tokens',
    });
    expect(problem({ provider_options: { openrouter: { reasoning: { effort: 'max' } } } }).field).toBe(
      'model_config.provider_options.openrouter.reasoning.effort',
    );
    expect(problem({ provider_options: { openai: { include: [1] } } }).field).toBe(
      'model_config.provider_options.openai.include',
    );
    expect(problem({ provider_options: [] }).field).toBe('model_config.provider_options');
    expect(problem({ cost: 'free' }).field).toBe('model_config.cost');
  });

  it('bounds the call settings and the prices', () => {
    expect(problem({ top_p: 1.5 }).detail).toBe('top_p must be at most 1');
    expect(problem({ max_output_tokens: 0 }).detail).toBe('max_output_tokens must be greater than 0');
    expect(problem({ presence_penalty: -3 }).detail).toBe('presence_penalty must be at least -2');
    expect(problem({ top_k: Number.MAX_SAFE_INTEGER * 2 }).detail).toBe('top_k must be an integer');
    expect(problem({ cost: { input_price_per_million_tokens: 'NaN' } }).field).toBe(
      'model_config.cost.input_price_per_million_tokens',
    );
    expect(problem({ cost: { input_price_per_million_tokens: '1e900' } }).detail).toBe(
      'cost.input_price_per_million_tokens is out of range',
    );
    expect(problem({ cost: { input_price_per_million_tokens: '1'.repeat(65) } }).detail).toBe(
      'cost.input_price_per_million_tokens must be at most 64 characters',
    );
  });
});

describe('toWireModelCallConfig', () => {
  it('omits empty options and skips unreadable stored prices', () => {
    expect(toWireModelCallConfig({})).toBeUndefined();
    expect(toWireModelCallConfig({ provider_options: { openai: 'x' } })).toBeUndefined();
    expect(toWireModelCallConfig({ cost: { input_price_per_million_tokens: 'junk' }, top_k: 5 })).toEqual({
      top_k: 5,
    });
  });
});

describe('deployment prompt', () => {
  it('sanitizes control and invisible characters', () => {
    expect(sanitizePrompt('\u0000a\u0008b\r\nc\rd\u200De\u2066f\u00ADg ')).toBe('ab\nc\ndefg');
  });

  it('composes [default?, custom?] with a blank line', () => {
    expect(composeDeploymentPrompt(true, '')).toBe(DEFAULT_SYSTEM_PROMPT);
    expect(composeDeploymentPrompt(true, 'x')).toBe(`${DEFAULT_SYSTEM_PROMPT}\n\nx`);
    expect(composeDeploymentPrompt(false, ' x ')).toBe('x');
    expect(composeDeploymentPrompt(false, '')).toBe('');
  });

  it('falls back to the built-in default when the settings cannot be read', async () => {
    const warn = jest.fn();
    const ds = {
      query: jest.fn().mockRejectedValue(new Error('connection refused')),
    } as unknown as DataSource;
    const events = { onChanged: () => () => undefined } as unknown as ConfigEvents;
    const service = new SystemPromptService(ds, events, { warn } as unknown as Logger);
    await expect(service.deploymentSystemPrompt()).resolves.toBe(DEFAULT_SYSTEM_PROMPT);
    expect(warn).toHaveBeenCalledTimes(1);
    // A failed read is not cached: the next call asks the database again.
    await service.deploymentSystemPrompt();
    expect(ds.query).toHaveBeenCalledTimes(2);
  });
});
