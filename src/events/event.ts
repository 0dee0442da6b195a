import { Type, type Static } from '@sinclair/typebox';

/** Limits of the canonical event (design.md, "The canonical event"). */
export const LIMITS = {
  eventId: 128,
  type: 64,
  id: 128,
  url: 2048,
  user: 256,
  propsBytes: 4096,
  propKey: 128,
} as const;

export const TYPE_PATTERN = /^[a-z0-9_.:-]{1,64}$/;

/** The dimensions of the ad rollups, in their key order. */
export const AD_DIMENSIONS = [
  'ad_id',
  'ad_unit_id',
  'campaign_id',
  'creative_id',
  'account_id',
] as const;
export type AdDimension = (typeof AD_DIMENSIONS)[number];

export const ID_FIELDS = ['site_id', ...AD_DIMENSIONS] as const;
export const URL_FIELDS = ['path', 'url', 'referrer'] as const;
export const USER_FIELDS = ['user_id', 'visitor_id'] as const;

/**
 * The canonical event's optional string fields with their length limits, in validation order:
 * the one list from which the edge's validator, the aggregator's re-check of what it reads from
 * the log and the documentation schema are built.
 */
export const STRING_FIELDS = [
  ...ID_FIELDS.map((name) => ({ name, max: LIMITS.id })),
  ...URL_FIELDS.map((name) => ({ name, max: LIMITS.url })),
  ...USER_FIELDS.map((name) => ({ name, max: LIMITS.user })),
];

const str = (max: number) => Type.String({ minLength: 1, maxLength: max });

/** The canonical event as a client sends it. Used for docs; `normalize.ts` is the validator. */
export const EventInput = Type.Object(
  {
    event_id: Type.Optional(str(LIMITS.eventId)),
    type: Type.String({ pattern: TYPE_PATTERN.source }),
    ...Object.fromEntries(STRING_FIELDS.map(({ name, max }) => [name, Type.Optional(str(max))])),
    ts: Type.Optional(Type.Union([Type.String(), Type.Number()])),
    props: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
      ),
    ),
  },
  { additionalProperties: false },
);
export type EventInput = Static<typeof EventInput>;

/**
 * The event as it travels through the log: validated, normalised and enriched.
 * `ts` and `received_at` are epoch milliseconds (UTC). `vh` is the cookieless visitor hash,
 * present only when neither `user_id` nor `visitor_id` is.
 */
export interface CanonicalEvent {
  event_id: string;
  type: string;
  ts: number;
  received_at: number;
  site_id?: string;
  ad_id?: string;
  ad_unit_id?: string;
  campaign_id?: string;
  creative_id?: string;
  account_id?: string;
  path?: string;
  url?: string;
  referrer?: string;
  user_id?: string;
  visitor_id?: string;
  vh?: string;
  /** The request's `User-Agent`, cut to 512 characters: browser, OS, device and bot are derived from it. */
  ua?: string;
  /**
   * ISO 3166-1 alpha-2 (upper case) of the client IP, looked up at the edge (dimensions/country.ts)
   * for events with a site; absent when unknown. The IP itself never leaves the edge. Not a
   * client field: /v1/events refuses `country` in its input.
   */
  country?: string;
  props?: Record<string, string | number | boolean | null>;
}
