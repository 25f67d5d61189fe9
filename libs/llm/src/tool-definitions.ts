// Tools offered to the model, described by JSON Schema. They carry no `execute`: the AI
// SDK only reports the calls, and the worker runs them (built-in, MCP or dynamic tools)
// between steps, so one model call is exactly one step.
import { jsonSchema, tool, ToolSet } from 'ai';
import type { JSONSchema7 } from 'ai';

export interface LlmToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments (an object schema). */
  inputSchema: JSONSchema7;
}

export function toToolSet(definitions: readonly LlmToolDefinition[] | undefined): ToolSet | undefined {
  if (!definitions || definitions.length === 0) return undefined;
  return Object.fromEntries(
    definitions.map((definition) => [
      definition.name,
      tool({
        ...(definition.description ? { description: definition.description } : {}),
        inputSchema: jsonSchema(definition.inputSchema),
      }),
    ]),
  );
}
