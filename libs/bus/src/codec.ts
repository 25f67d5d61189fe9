// JSON payloads and NATS headers, with W3C trace context carried in the headers.
import { context, propagation } from '@opentelemetry/api';
import { headers as natsHeaders, MsgHdrs } from '@nats-io/transport-node';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

export class PayloadDecodeError extends Error {}

export function decodeJson<T>(data: Uint8Array): T {
  try {
    return JSON.parse(dec.decode(data)) as T;
  } catch (e) {
    throw new PayloadDecodeError(`payload is not valid JSON: ${(e as Error).message}`);
  }
}

/** Headers carrying the active trace context plus any extra values. */
export function headersWithTrace(extra: Record<string, string> = {}): MsgHdrs {
  const h = natsHeaders();
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  for (const [k, v] of Object.entries({ ...carrier, ...extra })) h.set(k, v);
  return h;
}

export function headersToCarrier(h: MsgHdrs | undefined): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (!h) return carrier;
  for (const k of h.keys()) carrier[k.toLowerCase()] = h.get(k);
  return carrier;
}
