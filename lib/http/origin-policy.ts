/**
 * DNS-rebinding protection: which `Host` and `Origin` headers may reach the gateway, resolved once
 * from `allowedHosts` and `allowedOrigins` into one check run on the worker that receives a request.
 */
import { invalidOption } from '../options/validations.js';

const LOOPBACK_ORIGIN = /^https?:\/\/(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/i;

/** `'host'` or `'origin'` names what was refused; `undefined` lets the request through. */
export type OriginCheck = (host: string | undefined, origin: string | undefined) => 'host' | 'origin' | undefined;

/** The host name of a Host header, without port, lower case (`[::1]` keeps its brackets). */
function hostName(host: string): string {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0]!;
  return name.toLowerCase();
}

export function resolveOriginPolicy(owner: string, hosts: unknown, origins: unknown): OriginCheck {
  if (hosts !== undefined && !(Array.isArray(hosts) && hosts.every((h) => typeof h === 'string' && h.length > 0))) {
    throw invalidOption(
      owner,
      'allowedHosts',
      hosts,
      "expected an array of host names such as ['localhost', 'mcp.example.com'], or leave it unset.",
    );
  }
  if (
    origins !== undefined &&
    origins !== '*' &&
    !(Array.isArray(origins) && origins.every((o) => typeof o === 'string' && /^https?:\/\/[^/]+$/i.test(o)))
  ) {
    throw invalidOption(
      owner,
      'allowedOrigins',
      origins,
      "expected '*' or an array of origins such as ['https://app.example.com'] (scheme, host and port, no path).",
    );
  }
  const hostSet = hosts === undefined ? undefined : new Set((hosts as string[]).map((h) => h.toLowerCase()));
  const originSet = Array.isArray(origins) ? new Set(origins.map((o: string) => o.toLowerCase())) : undefined;
  return (host, origin) => {
    if (hostSet && (host === undefined || !hostSet.has(hostName(host)))) return 'host';
    if (origin === undefined || origins === '*') return undefined;
    if (originSet ? !originSet.has(origin.toLowerCase()) : !LOOPBACK_ORIGIN.test(origin)) return 'origin';
    return undefined;
  };
}
