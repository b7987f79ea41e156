-- The regional database: what every window's event store holds, as verified there.
-- Applied by padctl (padctl/region.py migrate) in one transaction with the
-- schema_version row that names it.

-- One row per window store that forwards here, with its forwarded marks: the highest
-- rowid of each window table already here, moved in the same transaction as the rows.
CREATE TABLE windows (
    window_id text PRIMARY KEY,
    records_mark bigint NOT NULL DEFAULT 0,
    alerts_mark bigint NOT NULL DEFAULT 0,
    quarantine_mark bigint NOT NULL DEFAULT 0,
    checks_mark bigint NOT NULL DEFAULT 0,
    first_forward timestamptz NOT NULL DEFAULT now(),
    last_forward timestamptz);

-- Journal records (docs/protocol.md 8.1) with their raw 64 bytes and MACs. A record is
-- the same record whichever window forwards it: one row per (pad, epoch, seq).
CREATE TABLE records (
    pad_id text NOT NULL, epoch bigint NOT NULL, seq bigint NOT NULL,
    kind smallint NOT NULL, flags smallint NOT NULL, boot integer NOT NULL,
    time bigint NOT NULL, card_id text, data bytea NOT NULL, mac bytea NOT NULL,
    raw bytea NOT NULL, stored_at double precision NOT NULL, at double precision NOT NULL,
    window_id text NOT NULL,
    PRIMARY KEY (pad_id, epoch, seq));
-- a card's history in the window's order, read from the index alone in that order
CREATE INDEX records_card ON records (card_id, at, pad_id, epoch, seq) WHERE card_id IS NOT NULL;
CREATE INDEX records_at ON records (at);

-- Chain heads as verified at each window.
CREATE TABLE chains (
    window_id text NOT NULL, pad_id text NOT NULL, epoch bigint NOT NULL,
    head_seq bigint NOT NULL, head_mac bytea NOT NULL, acked bigint NOT NULL,
    anchor bigint NOT NULL,
    PRIMARY KEY (window_id, pad_id, epoch));

-- The pads each window has synced.
CREATE TABLE pads (
    window_id text NOT NULL, pad_id text NOT NULL, version text, epoch bigint,
    head bigint, acked bigint, free bigint, last_seen double precision,
    PRIMARY KEY (window_id, pad_id));

-- The windows' alerts (tampering, re-anchor, rollback, re-provisioning, gap) and the
-- region's own (kind 'conflict': two windows hold different records for one place);
-- src_id: the alert's rowid in its window store (0 for the region's own).
CREATE TABLE alerts (
    window_id text NOT NULL, src_id bigint NOT NULL, pad_id text NOT NULL,
    epoch bigint, seq bigint, kind text NOT NULL, reason text NOT NULL,
    at double precision NOT NULL, id bigserial PRIMARY KEY);
CREATE UNIQUE INDEX alerts_src ON alerts (window_id, src_id) WHERE src_id > 0;
CREATE INDEX alerts_pad ON alerts (pad_id, at);

-- Bad records kept raw at the windows (evidence).
CREATE TABLE quarantine (
    window_id text NOT NULL, src_id bigint NOT NULL, pad_id text NOT NULL,
    epoch bigint NOT NULL, seq bigint NOT NULL, raw bytea NOT NULL, reason text NOT NULL,
    at double precision NOT NULL,
    PRIMARY KEY (window_id, src_id));

-- The clerks' ID checks at unlock and reset (issue 9): ID numbers only masked and as a
-- keyed hash, never in clear. check_id: the check's id in its window. The journal
-- record the check authorised is (pad_id, epoch, seq) when the window linked it, else
-- found by ref (the authorisation's reference: the first 6 bytes of the record's data).
CREATE TABLE checks (
    window_id text NOT NULL, check_id text NOT NULL, at double precision,
    clerk text, operation text, card_id text, pad_id text, epoch bigint, seq bigint,
    ref bytea, holder_doc_type text, holder_masked text, holder_hash bytea,
    agent_doc_type text, agent_masked text, agent_hash bytea,
    detail jsonb NOT NULL,
    PRIMARY KEY (window_id, check_id));
CREATE INDEX checks_card ON checks (card_id, at);
