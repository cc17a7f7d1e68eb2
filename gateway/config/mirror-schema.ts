// The `mirror:` section (docs/mirror.md): entries that copy upstream tags into a hosted registry.
// Accepted as the documented list, or as an object that also holds the section's defaults
// (`mirror: { defaultTarget, historyTag, entries: [...] }`); both become the object form.
// Cross-checks against `registries` (sources proxied, targets hosted) run in schema.ts.
import { Cron } from "croner";
import { z } from "zod";
import { parseDuration } from "./units.ts";

/** The default history tag: the tag, a dash, the UTC minute the digest was replaced (3.12-20261130T0600Z). */
export const DEFAULT_HISTORY_TAG = "{tag}-{time}";

/** A schedule: a duration ("6h") or a five/six-field cron expression ("0 6 * * *"). */
export type Schedule = { kind: "every"; ms: number; text: string } | { kind: "cron"; text: string };

export function parseSchedule(text: string): Schedule | undefined {
  const ms = parseDuration(text);
  if (ms !== undefined) return ms > 0 ? { kind: "every", ms, text } : undefined;
  try {
    new Cron(text, { paused: true }).stop();
    return { kind: "cron", text };
  } catch {
    return undefined;
  }
}

const platform = z
  .string()
  .regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, { message: 'expected "os/architecture[/variant]"' });

const repositoryName = z.string().regex(/^[a-z0-9][a-z0-9._:-]*(\/[a-z0-9._-]+)+$|^[a-z0-9][a-z0-9._-]*$/, {
  message: "expected a repository such as docker.io/library/alpine (no tag)",
});

export const mirrorEntrySchema = z.strictObject({
  source: repositoryName,
  tags: z.array(z.string().min(1).max(200)).min(1, { message: "list at least one tag, glob or range" }),
  target: repositoryName.optional(),
  platforms: z.union([z.literal("all"), z.array(platform).min(1)]).prefault("all"),
  schedule: z
    .string()
    .refine((v) => parseSchedule(v) !== undefined, {
      message: 'expected a duration like "6h" or a cron expression like "0 6 * * *"',
    })
    .transform((v) => parseSchedule(v) as Schedule)
    .optional(),
  keep: z.number().int().min(0).max(1000).prefault(10),
  serveUpstreamName: z.boolean().prefault(false),
});

const historyTag = z
  .string()
  .refine((v) => v.includes("{tag}") && (v.includes("{time}") || v.includes("{date}")), {
    message: 'expected a pattern with {tag} and {time} (or {date}), such as "{tag}-{time}"',
  });

const mirrorObject = z.strictObject({
  /** Where an entry without `target` goes: a hosted registry, optionally with a path prefix. */
  defaultTarget: repositoryName.optional(),
  historyTag: historyTag.prefault(DEFAULT_HISTORY_TAG),
  entries: z.array(mirrorEntrySchema).prefault([]),
});

const mirrorList = z.array(mirrorEntrySchema);

/** The list form or the object form, each parsed by its own schema so errors name the exact key. */
export const mirrorSchema = z
  .unknown()
  .prefault([])
  .transform((v, ctx) => {
    const list = Array.isArray(v);
    const r = list ? mirrorList.safeParse(v) : mirrorObject.safeParse(v ?? {});
    if (!r.success) {
      for (const issue of r.error.issues) ctx.issues.push({ ...issue, input: v } as never);
      return z.NEVER;
    }
    const d = r.data;
    return Array.isArray(d)
      ? { defaultTarget: undefined, historyTag: DEFAULT_HISTORY_TAG, entries: d, listForm: true }
      : { ...d, listForm: false };
  });

export type MirrorEntryConfig = z.output<typeof mirrorEntrySchema>;
export type MirrorSection = z.output<typeof mirrorSchema>;
