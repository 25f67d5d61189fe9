// Path parameter helpers.
import { ApiError } from './api-error';

/** `{user}` / `{org}` path segments: `me`, a uuid or a name (anything longer cannot exist). */
export function checkRef(ref: string): string {
  if (ref.length > 64) throw ApiError.notFound();
  return ref;
}
