/**
 * One session's view of the gateway's event store. The SDK names a session's GET stream
 * `_GET_stream` in every session, so in a store that sessions share (Redis, for resuming on
 * another worker or host) their events would be one stream: a reconnection would replay other
 * sessions' notifications. Here each session's streams live under a digest of its id, and a
 * `Last-Event-ID` of another session's stream is unknown (the SDK answers 400), never replayed.
 */
import { createHash } from 'node:crypto';
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';

export function sessionEventStore(store: EventStore, sessionId: string): EventStore {
  // A digest, not the id: event ids travel in headers and logs, a session id is a credential.
  const prefix = `${createHash('sha256').update(sessionId).digest('base64url').slice(0, 22)}~`;
  const own = (streamId: string | undefined): string | undefined =>
    streamId?.startsWith(prefix) ? streamId.slice(prefix.length) : undefined;
  return {
    storeEvent: (streamId, message) => store.storeEvent(`${prefix}${streamId}`, message),
    getStreamIdForEventId: async (eventId) => own(await store.getStreamIdForEventId?.(eventId)),
    replayEventsAfter: async (lastEventId, { send }) => {
      // Another session's event id (or a forged one) replays nothing.
      if (store.getStreamIdForEventId) {
        if (own(await store.getStreamIdForEventId(lastEventId)) === undefined) return '';
        return own(await store.replayEventsAfter(lastEventId, { send })) ?? '';
      }
      // A store that cannot tell the stream first: held back until it says whose they were.
      const held: Array<[string, Parameters<typeof send>[1]]> = [];
      const stream = own(await store.replayEventsAfter(lastEventId, { send: async (id, message) => void held.push([id, message]) }));
      if (stream === undefined) return '';
      for (const [id, message] of held) await send(id, message);
      return stream;
    },
  };
}
