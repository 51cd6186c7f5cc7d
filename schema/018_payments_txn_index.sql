-- 018_payments_txn_index.sql — one index on payments' provider transaction ids instead of two.
--
-- 001 made payments_provider_txn_uniq (adapter, COALESCE(partner_id, 0), provider_txn_id): the
-- guard against booking one terminal or bank transaction twice, and what book_payment()'s
-- ON CONFLICT names; and payments_provider_txn_idx (provider_txn_id) for the lookups that know only
-- the transaction id (a partner's reconciliation, the staff console's search). Every booking wrote
-- both: two random-key b-trees of the same ids (at 500 000 payments 55 MB and 36 MB). The unique
-- index with the transaction id first serves all of those lookups, and ON CONFLICT infers a unique
-- index by its set of columns, in any order, so book_payment() needs no change.
--
-- Index review at 1M accounts and 5M payments (issue 19): see tests/bench/RESULTS.md.
--
-- CREATE INDEX takes a SHARE lock on payments for as long as it builds (about 10 s per million
-- payments on the bench machine): bookings wait meanwhile. Run this migration when that is
-- acceptable, or build the index beforehand by hand with CREATE UNIQUE INDEX CONCURRENTLY under the
-- same name — then this step finds it (IF NOT EXISTS) and only drops the two old ones.

CREATE UNIQUE INDEX IF NOT EXISTS payments_txn_uniq ON payments (provider_txn_id, adapter, (COALESCE(partner_id, 0)));
DROP INDEX payments_provider_txn_uniq;
DROP INDEX payments_provider_txn_idx;

COMMENT ON INDEX payments_txn_uniq IS
    'One payment per provider transaction: (provider_txn_id, adapter, partner or 0). The transaction id '
    'first, so lookups by it alone (reconciliation, staff search) use this index too.';
