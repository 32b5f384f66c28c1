-- PostgreSQL ingest, server side: how fast one COPY stream (one backend) writes binary rows
-- shaped like a 10-tag export (ID + 10 tag columns), with the key built after the load (as
-- tagport's staging does) or maintained during it. No client in the way: the rows are read
-- from a file the server wrote itself. docs/scale.md uses these rates.
--
--   mkdir -p /tmp/tagport-bench-scale/pg && chmod 777 /tmp/tagport-bench-scale/pg
--   psql -h 127.0.0.1 -U postgres -d test -v rows=5000000 \
--       -v file=/tmp/tagport-bench-scale/pg/rows.bin -f bench/pg_ingest.sql
\timing on
DROP TABLE IF EXISTS scale_src, scale_copy, scale_copy_idx;
CREATE UNLOGGED TABLE scale_src AS
SELECT g::bigint AS user_id,
       (ARRAY['hz','sh','bj','gz','sz'])[1 + g % 5] AS city,
       (ARRAY['Hangzhou','Shanghai','Beijing','Guangzhou','Shenzhen'])[1 + g % 5] AS city_name,
       (ARRAY['F','M','U'])[1 + g % 3] AS gender,
       (g % 80 + 16)::bigint AS age,
       (ARRAY['bronze','silver','gold','platinum'])[1 + g % 4] AS member_level,
       g % 7 = 0 AS is_vip,
       timestamp '2020-01-01' + (g % 100000) * interval '17 minutes' AS signup_time,
       ((g % 100000) / 7.0)::numeric(18,4) AS total_spend,
       (g % 1000) / 3.0::double precision AS score,
       date '2024-01-01' + (g % 700)::int AS last_order
FROM generate_series(1, :rows) g;
COPY scale_src TO :'file' (FORMAT binary);
CREATE TABLE scale_copy (LIKE scale_src);
-- one COPY stream, server side: binary parse, heap insert, WAL (no index: tagport's staging)
SELECT pg_current_wal_lsn() AS wal_before \gset
COPY scale_copy FROM :'file' (FORMAT binary);
SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), :'wal_before')) AS copy_wal;
-- the index built after the load, as tagport does before the swap
SELECT pg_current_wal_lsn() AS wal_before \gset
ALTER TABLE scale_copy ADD PRIMARY KEY (user_id);
SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), :'wal_before')) AS key_wal;
SELECT pg_size_pretty(pg_total_relation_size('scale_copy')) AS table_and_index,
       pg_size_pretty(pg_relation_size('scale_copy')) AS heap;
-- the same load into a table whose key is maintained during COPY
CREATE TABLE scale_copy_idx (LIKE scale_src, PRIMARY KEY (user_id));
COPY scale_copy_idx FROM :'file' (FORMAT binary);
DROP TABLE scale_src, scale_copy, scale_copy_idx;
