/**
 * `internalForwardGuard`: the only judge of whether a request is an internal hop.
 *
 * A request that carries `x-forwarded-internally` in any spelling, with any value, is let through
 * only with a signature that a shared secret produced over this very request (method, path and
 * query, session id, body digest), addressed to this worker, fresh within the clock window and
 * never seen before. Anything else gets 403 and nothing behind the guard runs. The source address
 * and `X-Forwarded-For` are never looked at: behind a same-host proxy every client is loopback.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { RequestHandler } from 'express';
import { decodePrincipal, PRINCIPAL_HEADER } from '../auth/principal.js';
import { ErrorCodes, JsonRpcCodes } from '../errors.js';
import { type HopRefusal, macMatches, type ParsedSignature, parseSignature, SIGNATURE_HEADER } from '../hop/hop-signature.js';
import { readRawBody } from '../http/body.js';
import { claimsInternal, INTERNAL_HEADER, requestState, SESSION_HEADER, singleHeader } from '../http/request-state.js';
import { httpRpcError, isHttpRpcError, sendRpcError } from '../http/rpc-error.js';
import { GUARD_OPTION_NAMES } from '../options/option-names.js';
import { checkOptionsObject } from '../options/validations.js';
import type { InternalForwardGuardOptions } from '../types.js';
import { resolveWorkerOption } from '../worker.js';
import { resolveBodyLimits } from './session-affinity.js';

const OWNER = 'internalForwardGuard';

function countRawHeader(req: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) count++;
  return count;
}

export function internalForwardGuard(options: InternalForwardGuardOptions): RequestHandler {
  checkOptionsObject(OWNER, options, GUARD_OPTION_NAMES);
  const worker = resolveWorkerOption(OWNER, options.worker);
  const limits = resolveBodyLimits(OWNER, options);
  const { logger } = worker;
  const { maxClockSkewMs, debugLogging } = worker.config;

  /** Everything that can be judged without the body. */
  function precheck(req: IncomingMessage, now: number): HopRefusal | ParsedSignature {
    if (countRawHeader(req, INTERNAL_HEADER) !== 1 || countRawHeader(req, SIGNATURE_HEADER) > 1) return 'repeated-header';
    if (req.headers[INTERNAL_HEADER] !== 'true') return 'bad-marker';
    const value = req.headers[SIGNATURE_HEADER];
    if (typeof value !== 'string') return 'missing-signature';
    const signature = parseSignature(value);
    if (!signature) return 'malformed-signature';
    if (signature.targetWorkerId !== worker.workerId) return 'wrong-target';
    if (Math.abs(now - signature.timestamp) > maxClockSkewMs) return 'stale';
    return signature;
  }

  function refuse(req: IncomingMessage, res: Parameters<RequestHandler>[1], reason: HopRefusal, detail = ''): void {
    worker.metrics.hopRefused(reason);
    // Says why (for 'stale', by how much the clocks differ); a structured line too at debug level.
    logger.warn(`[express-mcp-affinity] refused internal hop (${reason}) ${req.method} ${req.url}${detail}`);
    if (debugLogging) {
      logger.debug?.(
        {
          event: 'mcp_affinity.hop_refused',
          reason,
          method: req.method,
          path: (req.url ?? '').split('?', 1)[0],
          worker: worker.workerId,
          detail,
        },
        'refused a request claiming to be an internal hop',
      );
    }
    sendRpcError(res, httpRpcError(403, JsonRpcCodes.SERVER_ERROR, ErrorCodes.HOP_REFUSED, 'Forbidden: not a valid internal request'));
  }

  return function internalForwardGuardMiddleware(req, res, next): void {
    if (!claimsInternal(req)) return next();
    const now = Date.now();
    const checked = precheck(req, now);
    if (typeof checked === 'string') {
      const skew =
        checked === 'stale'
          ? `; clock difference ${now - (parseSignature(String(req.headers[SIGNATURE_HEADER]))?.timestamp ?? now)} ms exceeds ${maxClockSkewMs} ms`
          : '';
      return refuse(req, res, checked, skew);
    }
    readRawBody(req, limits).then(
      (body) => {
        const request = {
          method: req.method ?? 'GET',
          url: req.originalUrl ?? req.url ?? '/',
          sessionId: singleHeader(req, SESSION_HEADER) ?? '',
          body,
          headers: req.headers,
        };
        if (!macMatches(worker.secrets, checked, request)) return refuse(req, res, 'bad-signature');
        // Remembered only once the MAC checked out, so forgeries cannot fill the cache.
        if (!worker.replayCache.remember(checked.nonce, checked.timestamp)) return refuse(req, res, 'replayed');
        requestState(req).verifiedHop = { sourceWorkerId: checked.sourceWorkerId };
        // The principal the receiving worker verified, signed with the hop: not verified again.
        const principal = singleHeader(req, PRINCIPAL_HEADER);
        if (principal !== undefined) {
          const auth = decodePrincipal(principal, singleHeader(req, 'authorization'));
          if (!auth) return refuse(req, res, 'bad-signature', '; unreadable principal');
          (req as { auth?: AuthInfo }).auth = auth;
          return next();
        }
        // A peer without authentication forwarded it: this worker checks the token itself.
        if (worker.bearerCheck) return worker.bearerCheck(req, res, next);
        next();
      },
      (error: unknown) => {
        if (isHttpRpcError(error)) sendRpcError(res, error);
        else res.destroy();
      },
    );
  };
}
