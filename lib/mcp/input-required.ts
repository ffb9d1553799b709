/**
 * Multi round-trip requests (2026-07-28, SEP-2322) behind the one handler API: a handler's
 * `ctx.elicitInput()` or `ctx.createMessage()` has no stream to ask on, so the request is answered
 * `input_required` with the question, and the client retries it with the answer. The handler
 * runs again from the start (replay): each question it already has an answer to returns that
 * answer, the first one it does not is asked. Earlier answers travel in `requestState`, sealed
 * with an HMAC under the gateway's secret and bound to the method, its target, a digest of its
 * arguments, the principal and an expiry, so a retry on any worker or host works with nothing
 * kept between rounds, and a client can neither forge answers nor move them to another request.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** How long a client may take between rounds. */
const STATE_TTL_MS = 10 * 60_000;
/** Larger `requestState` values are refused unread. */
export const MAX_REQUEST_STATE_BYTES = 64 * 1024;

/** Thrown by a handler's question without an answer yet; the adapter answers `input_required`. */
export class InputRequired extends Error {
  constructor(
    readonly key: string,
    readonly request: { readonly method: string; readonly params: object },
    readonly state: string,
  ) {
    super('input required');
  }
}

/** Thrown for a `requestState` that does not open: tampered, expired, for another request. */
export class InvalidRequestState extends Error {}

interface SealedState {
  /** The request it belongs to: method, target, argument digest, principal. */
  readonly bound: string;
  readonly expires: number;
  /** The answers so far, by question key. */
  readonly answers: Record<string, unknown>;
  /** The question asked last round, whose answer the retry's `inputResponses` carries. */
  readonly pending?: string;
}

/** JSON with sorted keys: the same arguments give the same digest, however a client orders them. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What a request's state is bound to. */
export function bindingOf(method: string, params: Record<string, unknown>, principal: string | undefined): string {
  const { _meta: _m, inputResponses: _i, requestState: _s, ...rest } = params;
  return createHash('sha256')
    .update(`${method}\n${principal ?? ''}\n${canonical(rest)}`)
    .digest('base64url');
}

const mac = (secret: string, body: string) => createHmac('sha256', secret).update(`mcp-affinity-state\n${body}`).digest();

export function seal(secret: string, state: SealedState): string {
  const body = Buffer.from(JSON.stringify(state)).toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/** The answers a retry brings: those sealed in its state, and the answer to the pending question. */
export function openState(
  secrets: readonly string[],
  value: unknown,
  bound: string,
  inputResponses: unknown,
  now = Date.now(),
): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'string' || value.length > MAX_REQUEST_STATE_BYTES)
    throw new InvalidRequestState('requestState is not a state this gateway issued');
  const [body, signature] = value.split('.');
  const given = Buffer.from(signature ?? '', 'base64url');
  const genuine = secrets.some((secret) => {
    const expected = mac(secret, body ?? '');
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!genuine || !body) throw new InvalidRequestState('requestState is not a state this gateway issued');
  const state = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SealedState;
  if (state.bound !== bound) throw new InvalidRequestState('requestState belongs to another request');
  if (state.expires < now) throw new InvalidRequestState('requestState expired; send the request again without it');
  const answers = { ...state.answers };
  const responses = inputResponses as Record<string, unknown> | undefined;
  if (state.pending !== undefined && responses && Object.hasOwn(responses, state.pending))
    answers[state.pending] = responses[state.pending];
  return answers;
}

/**
 * The questions of one round: `ask` returns the answer to the n-th question when there is one,
 * or throws `InputRequired` for it.
 */
export function questionsOf(secret: string, bound: string, answers: Record<string, unknown>, now = Date.now()) {
  let asked = 0;
  return {
    ask<T>(method: string, params: object): T {
      const key = `q${asked++}`;
      if (Object.hasOwn(answers, key)) return answers[key] as T;
      const state = seal(secret, { bound, expires: now + STATE_TTL_MS, answers, pending: key });
      throw new InputRequired(key, { method, params }, state);
    },
  };
}
