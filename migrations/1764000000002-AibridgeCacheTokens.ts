import { MigrationInterface, QueryRunner } from 'typeorm';

// AI Bridge: cached input tokens get their own columns on aibridge_token_usages. Until now
// they were only keys of the metadata JSON, named per provider: reads as cache_read_input
// (Anthropic), input_cached (OpenAI Responses) or prompt_cached (OpenAI Chat Completions),
// writes as cache_creation_input (Anthropic). Only one read key is expected per row; where
// several are present the largest wins.
//
// The backfill is one set-based UPDATE over the rows that have any of the keys (the others
// keep the default 0 without being rewritten). It must not fail on whatever old recorders
// left in the JSON, so a value counts only when it is a JSON number or a string holding a
// plain non-negative decimal with at most 18 integer digits (so the bigint cast cannot
// overflow); fractions round to the nearest integer. Anything else (text, negative numbers,
// booleans, objects, huge numbers, exponent strings) is ignored, and no usable value gives 0.
// Metadata that is not a JSON object yields NULL for every key and so 0.
//
// down hands the values back to the previous schema, which reads them from metadata: where a
// row's metadata does not already yield its column values (rows recorded after up), it writes
// cache_read_input / cache_creation_input into the metadata object, then drops the columns.
const READ_KEYS = ['cache_read_input', 'input_cached', 'prompt_cached'];
const WRITE_KEY = 'cache_creation_input';

/** SQL for metadata's value under `key` as a token count, or NULL when it is not usable. */
function tokens(key: string): string {
  const value = `metadata ->> '${key}'`;
  return `CASE WHEN ${value} ~ '^\\s*[0-9]{1,18}(\\.[0-9]{0,100})?\\s*$' THEN round((${value})::numeric)::bigint END`;
}

/** SQL for the cache read and write counts the metadata holds (0 when none). */
const READ_FROM_METADATA = `COALESCE(GREATEST(${READ_KEYS.map(tokens).join(', ')}), 0)`;
const WRITE_FROM_METADATA = `COALESCE(${tokens(WRITE_KEY)}, 0)`;
const ALL_KEYS = `ARRAY[${[...READ_KEYS, WRITE_KEY].map((k) => `'${k}'`).join(', ')}]`;

export class AibridgeCacheTokens1764000000002 implements MigrationInterface {
  name = 'AibridgeCacheTokens1764000000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE aibridge_token_usages
        ADD COLUMN cache_read_input_tokens bigint NOT NULL DEFAULT 0,
        ADD COLUMN cache_write_input_tokens bigint NOT NULL DEFAULT 0;
      UPDATE aibridge_token_usages
         SET cache_read_input_tokens = ${READ_FROM_METADATA},
             cache_write_input_tokens = ${WRITE_FROM_METADATA}
       WHERE metadata ?| ${ALL_KEYS};
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE aibridge_token_usages
         SET metadata = CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata ELSE '{}'::jsonb END
           || CASE WHEN cache_read_input_tokens <> ${READ_FROM_METADATA}
                THEN jsonb_build_object('${READ_KEYS[0]}', cache_read_input_tokens) ELSE '{}'::jsonb END
           || CASE WHEN cache_write_input_tokens <> ${WRITE_FROM_METADATA}
                THEN jsonb_build_object('${WRITE_KEY}', cache_write_input_tokens) ELSE '{}'::jsonb END
       WHERE (metadata IS NULL OR jsonb_typeof(metadata) IN ('object', 'null'))
         AND (cache_read_input_tokens <> ${READ_FROM_METADATA} OR cache_write_input_tokens <> ${WRITE_FROM_METADATA});
      ALTER TABLE aibridge_token_usages
        DROP COLUMN cache_read_input_tokens,
        DROP COLUMN cache_write_input_tokens;
    `);
  }
}
