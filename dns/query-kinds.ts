// The ways a query can be answered, apart from the responder: the metrics name them all, and
// importing them does not load the DNS codec (dns2) into a wharf that runs no responder.

/** Every way a query can be answered; the metrics name them all. */
export const QUERY_KINDS = [
  "intercepted",
  "forwarded",
  "refused",
  "servfail",
  "formerr",
  "notimp",
  "dropped",
  "ratelimited",
] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];
