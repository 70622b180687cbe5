"""Document store benchmark (`make bench`). Numbers only, never pass/fail.

In one run on the same server: puts/s (2 clients) against pgbench TPC-B, gets by tag/s
(2 clients) against `pgbench -S`, and one list_by_session page (page 1 and page 1,000 of 100
documents) with 1,000,000 documents in the table, timed at the server by pgbench.
"""

from __future__ import annotations

import psycopg

from bench.common import SECONDS, pgbench, pgbench_init
from cdlstore.dev import testdb

DB = "cdlstore_bench_documents"


def main() -> None:
    dsn = testdb.create_template(DB)
    print(f"benchmark database {DB}; {SECONDS} s per pgbench run", flush=True)
    results = []
    pgbench_init(dsn)
    tpcb = pgbench(dsn, "-c", "2", "-j", "2")
    put = (
        "\\set s random(1, 1000)\n"
        "SELECT docstore.put_document('bench', 'message', '{\"text\": \"hello there\", \"n\": 1}', "
        "'msg', '{\"lang\": \"en\"}', 'bench', 'agent', 'session-' || :s);\n"
    )
    puts = pgbench(dsn, "-c", "2", "-j", "2", script=put)
    results.append(
        (
            "put_document, 2 clients",
            f"{puts['tps']:.0f} puts/s",
            f"{puts['tps'] / tpcb['tps']:.2f} x pgbench TPC-B ({tpcb['tps']:.0f} tps); goal 0.8",
        )
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        uuid = conn.execute(
            "SELECT (docstore.put_document('bench', 'config', '{\"model\": \"x\"}')).document_uuid"
        ).fetchone()[0]
        conn.execute("SELECT docstore.set_tag(%s, 1, 'production')", [uuid])
        select = pgbench(dsn, "-S", "-c", "2", "-j", "2")
        by_tag = pgbench(
            dsn,
            "-c",
            "2",
            "-j",
            "2",
            script=f"SELECT docstore.get_document_by_tag('{uuid}', 'production');\n",
        )
        results.append(
            (
                "get_document_by_tag, 2 clients",
                f"{by_tag['tps']:.0f} gets/s",
                f"{by_tag['tps'] / select['tps']:.2f} x pgbench -S "
                f"({select['tps']:.0f} tps); goal 0.5",
            )
        )

        print("writing 1,000,000 documents (10 sessions of 100,000) ...", flush=True)
        conn.execute("""
            WITH body AS (
                INSERT INTO docstore.document_body (body_hash, body)
                VALUES (sha256('bulk'), '{"text": "bulk"}') RETURNING document_body_uuid),
            docs AS (
                INSERT INTO docstore.documents
                    (document_uuid, namespace, type, latest_version, created_at)
                SELECT gen_random_uuid(), 'bulk', 'message', 1, now()
                FROM generate_series(1, 1000000)
                RETURNING document_uuid)
            INSERT INTO docstore.document_header (namespace, type, document_uuid, version, metadata,
                                                  document_body_uuid, created_at, session_id)
            SELECT 'bulk', 'message', d.document_uuid, 1, '{}', b.document_body_uuid,
                   now() - (row_number() OVER () * interval '1 millisecond'),
                   'bulk-' || (row_number() OVER () % 10)
            FROM docs d, body b""")
        conn.execute("VACUUM ANALYZE docstore.document_header")
        cursor = conn.execute("""
            SELECT cdlstore_internal.page_cursor(created_at, id) FROM docstore.document_header
            WHERE session_id = 'bulk-1' ORDER BY created_at DESC, id DESC
            OFFSET 99899 LIMIT 1""").fetchone()[0]
    first = pgbench(dsn, "-c", "1", script="SELECT docstore.list_by_session('bulk-1');\n")
    later = pgbench(
        dsn, "-c", "1", script=f"SELECT docstore.list_by_session('bulk-1', after => '{cursor}');\n"
    )
    results.append(
        (
            "list_by_session page 1 of 100, 1,000,000 rows",
            f"{first['latency_ms']:.3f} ms",
            "goal under 2 ms",
        )
    )
    results.append(
        (
            "list_by_session page 1,000",
            f"{later['latency_ms']:.3f} ms",
            f"{later['latency_ms'] / first['latency_ms']:.2f} x page 1; goal 1.5",
        )
    )
    print()
    for what, value, against in results:
        print(f"{what:<48} {value:<14} {against}")
    testdb.drop(DB)


if __name__ == "__main__":
    main()
