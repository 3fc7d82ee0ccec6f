/** The HistoryStore contract on an array, as the Room keeps it in SQLite: for room tests without the Room object. */
import type { HistoryStore } from "../../src/rooms/room-state";

export class ArrayHistory implements HistoryStore {
  messages: Parameters<HistoryStore["append"]>[0][] = [];
  last = 0;
  lastSeq() {
    return this.last;
  }
  append(m: Parameters<HistoryStore["append"]>[0], keep: number) {
    this.last = m.seq;
    this.messages.push(m);
    this.messages = keep === 0 ? [] : this.messages.slice(-keep);
  }
  after(since: number, limit: number) {
    // At most `limit`, the newest ones (slice(-0) would be all of them).
    return limit === 0 ? [] : this.messages.filter((m) => m.seq > since).slice(-limit);
  }
}
