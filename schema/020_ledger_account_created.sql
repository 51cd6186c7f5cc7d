-- 020_ledger_account_created.sql — a month's statement without walking the account's whole history.
--
-- The statement (GET /v1/internal/accounts/{contract}/statement) finds the period's first and last
-- ledger rows as min(id) with created_at >= the start and max(id) with created_at < the end, over
-- ledger_account_idx (account_id, id). created_at was only in the table, so each bound read a heap
-- page per ledger row it passed: an account with a year of daily fees, one row per day, spread over
-- 365 pages (a fee run writes every account's row of a day together). At 1M accounts (10 000 of them
-- with a year of fees, 8.65M ledger rows) the statement peaked at 569/s with 4 connections, p50
-- 1.37 ms at 285/s. With created_at in the index (INCLUDE: it is not a key, the order stays
-- (account_id, id)) the bounds are index-only scans: 7 and 10 buffers instead of ~180-250 each; peak
-- 3 927/s, p50 0.89 / p99 3.5 ms at 1 963/s. Same index count, 8 bytes more per entry.
--
-- An index-only scan skips the heap only for pages the visibility map marks all-visible, which vacuum
-- does. The ledger only grows, so vacuum comes from inserts: by default after 20 % growth, which on a
-- ledger of 365M rows (a year of fees for 1M accounts) is 73M rows, two months of fees left unmarked.
-- 1 % keeps it to about four days.
--
-- CREATE INDEX takes a SHARE lock on the ledger while it builds (8.9 s at 8.65M rows on the bench
-- machine): bookings wait meanwhile.

CREATE INDEX ledger_account_created_idx ON ledger (account_id, id) INCLUDE (created_at);
DROP INDEX ledger_account_idx;
ALTER INDEX ledger_account_created_idx RENAME TO ledger_account_idx;
ALTER TABLE ledger SET (autovacuum_vacuum_insert_scale_factor = 0.01);
