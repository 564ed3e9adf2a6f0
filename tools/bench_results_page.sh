#!/usr/bin/env bash
# The results page and /api/images against 100,000 images and 3,000,000 detections (issue 15's benchmark, not a timed
# test): a private state directory is filled by SQL, the daemon (release build, no model) serves it, and each URL is
# asked REQUESTS times in a row; prints median and p95 per URL and the EXPLAIN ANALYZE of the page's two queries.
#   tools/bench_results_page.sh [IMAGES] [DETECTIONS_PER_IMAGE] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-100000} per=${2:-30} requests=${3:-100}
bin=${PIPELINED_BIN:-.build/release/pipelined}
[ -x "$bin" ] || { echo "build first: swift build -c release --product pipelined" >&2; exit 1; }
work=$(mktemp -d /tmp/pipelined-bench.XXXXXX)
chmod 755 "$work"
daemon=
cleanup() { [ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export PIPELINED_MODEL=none PIPELINED_LOG_LEVEL=warning
"$bin" migrate --state-dir "$work/s" >/dev/null
port=18699
"$bin" run --state-dir "$work/s" --listen 127.0.0.1:$port > "$work/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 1; done
db="host=$work/s/postgres/run user=pipelined dbname=pipelined"

echo "filling: $images images, $per detections each"
start=$(date +%s)
psql -q -v ON_ERROR_STOP=1 "$db" <<SQL
INSERT INTO images (sha256, original_name, inbox, archive_path, byte_size, format, width, height, status, received_at)
SELECT encode(sha256(convert_to('image ' || i, 'UTF8')), 'hex'), 'holiday/photo-' || i || '.jpg',
       CASE WHEN i % 4 = 0 THEN 'cameras' ELSE 'default' END, 'ab/' || i || '.jpg', 250000, 'jpeg', 640, 480, 'decoded',
       now() - make_interval(secs => $images - i)
FROM generate_series(1, $images) i;
INSERT INTO image_arrivals (image_id, inbox, original_name, arrived_at) SELECT id, inbox, original_name, received_at FROM images;
INSERT INTO jobs (image_id, state, attempt, finished_at) SELECT id, 'done', 1, received_at FROM images;
INSERT INTO provenance (job_id, image_id, model_version, weights_sha256, code_version, host, worker, attempt, timings_ms, settings)
SELECT j.id, j.image_id, 'bench@1', repeat('0', 64), '0', 'bench', 'bench', 1, '{"total": 1000}', '{}' FROM jobs j;
INSERT INTO detections (image_id, provenance_id, label, prompt, score, x0, y0, x1, y1)
SELECT p.image_id, p.id, (ARRAY['person','cat','dog','car','bicycle','chair','cup','bottle','bird','tree'])[1 + (k * 7 + p.id) % 10],
       NULL, ((k * 37 + p.id * 13) % 1000) / 1000.0, 10 + k, 20 + k, 200 + k, 220 + k
FROM provenance p, generate_series(1, $per) k;
ANALYZE;
SQL
echo "filled in $(( $(date +%s) - start )) s: $(psql -Atc "SELECT count(*) FROM images" "$db") images, $(psql -Atc "SELECT count(*) FROM detections" "$db") detections"

measure() {   # URL → median and p95 of $requests sequential requests, in milliseconds
  local url=$1
  for _ in $(seq 1 "$requests"); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port$url"; done \
    | sort -n | awk -v u="$url" '{ t[NR] = $1 * 1000 } END { printf "%-48s median %7.1f ms   p95 %7.1f ms   (%d requests)\n", u, t[int((NR + 1) / 2)], t[int(NR * 0.95 + 0.5)], NR }'
}
before=$(( images / 2 ))
for url in "/" "/?inbox=cameras" "/?label=cat&min_score=0.9" "/?before=$before" "/api/images" "/api/images?label=dog&min_score=0.5" \
           "/api/images?before=$before&limit=100" "/images/$before" "/api/images/$before"; do
  measure "$url"
done

echo; echo "EXPLAIN ANALYZE of the page's listing (newest 50) and its boxes:"
psql "$db" <<SQL
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT i.id, i.original_name, i.inbox, i.sha256, i.status, i.width, i.height, j.id AS job_id, j.state,
       (SELECT count(*) FROM detections d WHERE d.image_id = i.id AND d.score >= 0) AS detections
FROM images i LEFT JOIN jobs j ON j.image_id = i.id
WHERE i.id < $before ORDER BY i.id DESC LIMIT 50;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT image_id, label, score FROM (
    SELECT d.image_id, d.label, d.score, row_number() OVER (PARTITION BY d.image_id ORDER BY d.score DESC, d.id) AS rank
    FROM detections d WHERE d.image_id = ANY(ARRAY(SELECT generate_series($before - 50, $before - 1))::bigint[])
) ranked WHERE rank <= 20;
SQL
