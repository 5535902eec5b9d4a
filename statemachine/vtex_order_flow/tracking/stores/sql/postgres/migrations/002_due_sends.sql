-- Version 2: sends awaiting an answer are in the due index (VTEX's answer has a timeout), and
-- the sequence hands out blocks of 64 (a process takes one block per 64 entry writes).
DROP INDEX IF EXISTS {schema}.entries_due;
CREATE INDEX entries_due ON {schema}.entries (due, seq) WHERE state IN ('ready', 'retry', 'claimed', 'sent');
ALTER SEQUENCE {schema}.entry_seq INCREMENT BY 64;
