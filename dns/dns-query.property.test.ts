// Properties of reading DNS messages: any bytes are a query, FORMERR, NOTIMP or silence, never an
// exception; queries built from the wire grammar (RFC 1035 §4.1.2) read back exactly.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fuzzRuns } from "../test/fuzz/fuzz-budget.ts";
import { queryPacket } from "../test/support/dns-testbed.ts";
import { parseQuery, readMessage } from "./dns-query.ts";

const numRuns = fuzzRuns(1000);
const label = fc.stringMatching(/^[A-Za-z0-9-]{1,63}$/);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).filter((ls) => ls.join(".").length < 250);

describe("readMessage properties", () => {
  it("classifies any bytes without throwing, by the header alone where the body is unreadable", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const raw = Buffer.from(bytes);
        const m = readMessage(raw);
        if (raw.length < 12 || (raw[2] ?? 0) & 0x80) expect(m).toBeUndefined();
        else expect(m?.kind === "query" ? m.query.id : m?.header.id).toBe(raw.readUInt16BE(0));
      }),
      { numRuns },
    );
  });

  it("reads back every query built from labels, type and ID", () => {
    fc.assert(
      fc.property(
        name,
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 1, max: 0xffff }),
        (ls, id, type) => {
          const wire = ls.join(".");
          const q = parseQuery(queryPacket(id, wire, type));
          expect(q).toMatchObject({ id, type, class: 1, wireName: wire, name: wire.toLowerCase() });
        },
      ),
      { numRuns },
    );
  });
});
