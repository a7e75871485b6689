/**
 * @file fleetnode.h
 * @brief Hardware-free logic of the fleetscan ESP32 + BME280 node.
 *
 * Everything here is portable C11 with no Arduino or ESP-IDF headers, so it
 * builds and is unit-tested on the host (`make -C firmware test`). The
 * Arduino sketch (fleetscan_node/fleetscan_node.ino) only does I/O: it reads
 * the sensor, the clock and the MAC, and hands the JSON this library builds
 * to the Plexus C SDK's HTTP transport.
 *
 * What it covers:
 *  - BME280 reading validation (datasheet operating ranges, NaN, suspicious 0 %RH);
 *  - a per-board source id derived from the chip MAC, or a validated override;
 *  - wall-clock sanity (refuse uptime-based timestamps);
 *  - a bounded point queue that drops the oldest point (and counts it) when full;
 *  - the flush decision (every N ms, or once N points are queued, with backoff);
 *  - the /ingest JSON body, which never contains null, NaN or Infinity.
 *
 * Nothing allocates; the caller owns all storage. Not thread-safe.
 */

#ifndef FLEETNODE_H
#define FLEETNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLEETNODE_VERSION "0.1.0"

/* ------------------------------------------------------------------------- */
/* Limits                                                                    */
/* ------------------------------------------------------------------------- */

/** Longest source id, in chars (the C SDK's limit: 64 bytes with the NUL). */
#define FLEETNODE_SOURCE_ID_MAX_LEN 63u
/** Longest metric name, in chars. */
#define FLEETNODE_METRIC_MAX_LEN 31u
/** Tags per point (the gateway allows 16; the C SDK 4). */
#define FLEETNODE_MAX_TAGS 4u
/** Longest tag key or value, in chars (the C SDK keeps 31). */
#define FLEETNODE_TAG_MAX_LEN 31u

/** 2020-01-01T00:00:00Z in epoch ms: anything earlier is an unsynced clock. */
#define FLEETNODE_MIN_EPOCH_MS 1577836800000ULL
/** 2100-01-01T00:00:00Z in epoch ms: anything later is a broken clock. */
#define FLEETNODE_MAX_EPOCH_MS 4102444800000ULL

/* BME280 operating ranges (datasheet section 1, "Operating range"). */
#define FLEETNODE_TEMP_MIN_C (-40.0)
#define FLEETNODE_TEMP_MAX_C 85.0
#define FLEETNODE_HUMIDITY_MIN_PCT 0.0
#define FLEETNODE_HUMIDITY_MAX_PCT 100.0
#define FLEETNODE_PRESSURE_MIN_HPA 300.0
#define FLEETNODE_PRESSURE_MAX_HPA 1100.0

/* Metric names. */
#define FLEETNODE_METRIC_TEMPERATURE "temperature"
#define FLEETNODE_METRIC_HUMIDITY "humidity"
#define FLEETNODE_METRIC_PRESSURE "pressure"
#define FLEETNODE_METRIC_SENSOR_OK "sensor.ok"

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

typedef enum {
    FLEETNODE_OK = 0,
    FLEETNODE_ERR_NULL,        /**< a required pointer was NULL */
    FLEETNODE_ERR_INVALID,     /**< an argument broke a rule (charset, range, ...) */
    FLEETNODE_ERR_TOO_LONG,    /**< a string or the output buffer is too small */
    FLEETNODE_ERR_FULL,        /**< no room left (tags) */
    FLEETNODE_ERR_NOT_FINITE,  /**< NaN or +-Infinity */
    FLEETNODE_ERR_CLOCK        /**< timestamp outside the sane window */
} fleetnode_err_t;

/** Short static name of an error code, e.g. "invalid". */
const char *fleetnode_strerror(fleetnode_err_t err);

/* ------------------------------------------------------------------------- */
/* Reading validation                                                        */
/* ------------------------------------------------------------------------- */

typedef enum {
    FLEETNODE_QTY_TEMPERATURE = 0, /**< degrees Celsius */
    FLEETNODE_QTY_HUMIDITY,        /**< percent relative humidity */
    FLEETNODE_QTY_PRESSURE,        /**< hectopascal (Adafruit readPressure() / 100) */
    FLEETNODE_QTY__COUNT
} fleetnode_quantity_t;

typedef enum {
    FLEETNODE_READING_OK = 0,
    FLEETNODE_READING_NOT_FINITE,   /**< NaN/Inf: the driver's "no measurement" marker */
    FLEETNODE_READING_OUT_OF_RANGE, /**< outside the datasheet operating range */
    FLEETNODE_READING_SUSPICIOUS    /**< in range but a known fault value (0 %RH exactly) */
} fleetnode_reading_status_t;

/** Metric name of a quantity ("temperature", "humidity", "pressure"). */
const char *fleetnode_quantity_metric(fleetnode_quantity_t qty);

/** Short static name of a reading status, e.g. "out_of_range". */
const char *fleetnode_reading_status_name(fleetnode_reading_status_t status);

/**
 * Classify one reading. Only FLEETNODE_READING_OK may be sent.
 *
 * Temperature must lie in [-40, 85] C, pressure in [300, 1100] hPa and
 * humidity in (0, 100] %: exactly 0 %RH is what a BME280 with a dead or
 * disabled humidity channel (or a BMP280 in its place) reports, so it is
 * flagged as suspicious; above 100 % is out of range.
 */
fleetnode_reading_status_t fleetnode_check_reading(fleetnode_quantity_t qty, double value);

/* ------------------------------------------------------------------------- */
/* Source id                                                                 */
/* ------------------------------------------------------------------------- */

/** True if s matches ^[a-z0-9][a-z0-9._-]*$ and has 1..63 chars. */
bool fleetnode_source_id_valid(const char *s);

/**
 * Unpack ESP.getEfuseMac() (the base MAC, little-endian in the low 48 bits)
 * into the usual 6-byte order, mac[0] first as printed "aa:bb:cc:...".
 */
void fleetnode_mac_from_efuse(uint64_t efuse_mac, uint8_t mac[6]);

/**
 * "<prefix>-<last 3 MAC bytes as lowercase hex>", e.g. "esp32-bme280-a1b2c3".
 * The prefix must itself be a valid source id; the result must fit in
 * `out_size` (including the NUL) and in FLEETNODE_SOURCE_ID_MAX_LEN.
 */
fleetnode_err_t fleetnode_source_id_from_mac(const uint8_t mac[6], const char *prefix,
                                             char *out, size_t out_size);

/**
 * Pick the board's source id. A non-empty `override_id` wins if it is valid.
 * An invalid override returns FLEETNODE_ERR_INVALID, but `out` still receives
 * the MAC-derived id so the caller can log loudly and keep the board usable.
 * NULL or "" as override means "derive from the MAC".
 */
fleetnode_err_t fleetnode_resolve_source_id(const char *override_id, const uint8_t mac[6],
                                            const char *prefix, char *out, size_t out_size);

/* ------------------------------------------------------------------------- */
/* Clock                                                                     */
/* ------------------------------------------------------------------------- */

/**
 * True if epoch_ms is a plausible wall-clock time: not before 2020-01-01 and
 * not after 2100-01-01. An ESP32 that has not synced NTP counts from 1970
 * (uptime), which the gateway would treat as *seconds* and misfile by decades.
 */
bool fleetnode_epoch_ms_sane(uint64_t epoch_ms);

/* ------------------------------------------------------------------------- */
/* Tags                                                                      */
/* ------------------------------------------------------------------------- */

typedef struct {
    size_t count;
    char key[FLEETNODE_MAX_TAGS][FLEETNODE_TAG_MAX_LEN + 1];
    char value[FLEETNODE_MAX_TAGS][FLEETNODE_TAG_MAX_LEN + 1];
} fleetnode_tags_t;

void fleetnode_tags_init(fleetnode_tags_t *tags);

/**
 * Add key=value to every point. An empty (or NULL) value means "no such tag"
 * and is accepted without adding anything, so config.h can leave SITE blank.
 * Keys must be 1..31 printable ASCII chars, values up to 31; a duplicate key
 * is FLEETNODE_ERR_INVALID, a fifth tag FLEETNODE_ERR_FULL.
 */
fleetnode_err_t fleetnode_tags_add(fleetnode_tags_t *tags, const char *key, const char *value);

/* ------------------------------------------------------------------------- */
/* Point queue (bounded ring buffer; drops the oldest when full)             */
/* ------------------------------------------------------------------------- */

typedef struct {
    char metric[FLEETNODE_METRIC_MAX_LEN + 1];
    double value;
    uint64_t timestamp_ms;
} fleetnode_point_t;

typedef struct {
    fleetnode_point_t *items; /**< caller-owned storage of `capacity` points */
    size_t capacity;
    size_t head;              /**< index of the oldest point */
    size_t count;
    uint32_t dropped;         /**< points evicted because the queue was full */
} fleetnode_queue_t;

/** Use `storage` (capacity >= 1 points) for the queue. */
void fleetnode_queue_init(fleetnode_queue_t *q, fleetnode_point_t *storage, size_t capacity);

/**
 * Append a point. Rejects (and does not queue) a non-finite value, an invalid
 * metric name or an insane timestamp. When the queue is full the oldest point
 * is evicted and `dropped` incremented: pushing never blocks and never fails
 * for lack of room.
 */
fleetnode_err_t fleetnode_queue_push(fleetnode_queue_t *q, const char *metric, double value,
                                     uint64_t timestamp_ms);

/** The i-th queued point, 0 being the oldest; NULL if i >= count. */
const fleetnode_point_t *fleetnode_queue_at(const fleetnode_queue_t *q, size_t i);

/** Remove up to n of the oldest points; returns how many were removed. */
size_t fleetnode_queue_pop(fleetnode_queue_t *q, size_t n);

/* ------------------------------------------------------------------------- */
/* One sensor cycle                                                          */
/* ------------------------------------------------------------------------- */

typedef struct {
    uint32_t samples;        /**< cycles recorded */
    uint32_t not_finite;     /**< readings skipped: NaN/Inf */
    uint32_t out_of_range;   /**< readings skipped: outside the datasheet range */
    uint32_t suspicious;     /**< readings skipped: known fault values */
    uint32_t sensor_missing; /**< cycles with no sensor answering */
    uint32_t clock_unsynced; /**< cycles dropped because the clock was not sane */
} fleetnode_counters_t;

/** Total readings skipped for any reason (each quantity counts once). */
uint32_t fleetnode_counters_skipped(const fleetnode_counters_t *c);

typedef struct {
    double temperature_c;
    double humidity_pct;
    double pressure_hpa;
} fleetnode_sample_t;

/**
 * Validate one BME280 cycle and queue what may be sent, all with timestamp
 * `now_epoch_ms`:
 *  - each valid reading under its metric name; an invalid one is skipped and
 *    counted by reason (never sent, never replaced by a made-up value);
 *  - "sensor.ok" = 1 if the sensor answered and all three readings were
 *    valid, else 0 (also when `sensor_present` is false; `sample` may then be NULL).
 * If the clock is not sane nothing is queued, `clock_unsynced` is incremented
 * and FLEETNODE_ERR_CLOCK returned. Returns FLEETNODE_OK otherwise, even when
 * readings were skipped (see `counters`).
 */
fleetnode_err_t fleetnode_record_sample(fleetnode_queue_t *q, fleetnode_counters_t *counters,
                                        const fleetnode_sample_t *sample, bool sensor_present,
                                        uint64_t now_epoch_ms);

/* Diagnostic metric names (sent every DIAG_INTERVAL_MS by the sketch). */
#define FLEETNODE_METRIC_SKIPPED "node.readings_skipped"
#define FLEETNODE_METRIC_DROPPED "node.points_dropped"
#define FLEETNODE_METRIC_SENSOR_MISSING "node.sensor_missing"
#define FLEETNODE_METRIC_UPTIME "node.uptime_s"
#define FLEETNODE_METRIC_RSSI "node.wifi_rssi_dbm"

/**
 * Queue the node's health counters (cumulative since boot) so a fleet view can
 * tell a flaky sensor or a lossy uplink from a quiet room:
 * node.readings_skipped, node.points_dropped (queue evictions),
 * node.sensor_missing, node.uptime_s and, if rssi_dbm < 0, node.wifi_rssi_dbm.
 * Returns FLEETNODE_ERR_CLOCK (queuing nothing) while the clock is not sane.
 */
fleetnode_err_t fleetnode_record_diagnostics(fleetnode_queue_t *q,
                                             const fleetnode_counters_t *counters,
                                             uint32_t uptime_s, int rssi_dbm,
                                             uint64_t now_epoch_ms);

/* ------------------------------------------------------------------------- */
/* Flush decision                                                            */
/* ------------------------------------------------------------------------- */

typedef struct {
    uint32_t interval_ms;     /**< flush at least this often while points wait */
    size_t flush_count;       /**< ... or as soon as this many are queued */
    uint32_t backoff_max_ms;  /**< cap of the retry delay after failures */
    uint32_t last_attempt_ms; /**< monotonic tick (millis()) of the last attempt */
    uint32_t backoff_ms;      /**< 0 when healthy, else the current retry delay */
    uint32_t failures;        /**< consecutive failed flushes */
} fleetnode_batcher_t;

/**
 * interval_ms: time flush (5000 in the SDK example); flush_count: count flush;
 * backoff_max_ms: longest retry delay; now_ms: current monotonic tick.
 */
void fleetnode_batcher_init(fleetnode_batcher_t *b, uint32_t interval_ms, size_t flush_count,
                            uint32_t backoff_max_ms, uint32_t now_ms);

/**
 * Should the caller flush now? Never with nothing queued. When healthy: once
 * `interval_ms` has passed since the last attempt or `flush_count` points are
 * queued. After a failure: only once the backoff delay has passed (the count
 * trigger is suspended, so a full queue does not hammer a down gateway).
 * Tick arithmetic is wrap-safe (millis() wraps after ~49.7 days).
 */
bool fleetnode_batcher_due(const fleetnode_batcher_t *b, size_t queued, uint32_t now_ms);

/**
 * Record a flush attempt. Success resets the backoff; failure sets it to
 * interval_ms, then doubles it per consecutive failure up to backoff_max_ms.
 */
void fleetnode_batcher_done(fleetnode_batcher_t *b, bool ok, uint32_t now_ms);

/* ------------------------------------------------------------------------- */
/* Wi-Fi reconnect pacing                                                    */
/* ------------------------------------------------------------------------- */

/**
 * Next retry delay: base_ms first (prev_ms == 0), then doubling, capped at
 * max_ms. Used to pace Wi-Fi reconnects (WiFi.begin() is asynchronous, so
 * base_ms should cover one connection attempt, ~10 s).
 */
uint32_t fleetnode_next_backoff_ms(uint32_t prev_ms, uint32_t base_ms, uint32_t max_ms);

/* ------------------------------------------------------------------------- */
/* JSON payload for POST /ingest                                             */
/* ------------------------------------------------------------------------- */

/**
 * Serialise up to `max_points` of the oldest queued points as
 *   {"source_id":"...","points":[{"metric":"temperature","value":22.4,
 *    "timestamp":1767225600000,"tags":{"room":"lab"}}, ...]}
 * into buf (NUL-terminated). Values use "%.6g"; timestamps are integer epoch
 * ms; "tags" is omitted when there are none. Points that would overflow `buf`
 * are left for the next batch. A non-finite value or insane timestamp (which
 * fleetnode_queue_push never admits) is skipped, never written as null.
 *
 * `consumed` receives how many queue entries the body covers: pop exactly
 * that many once the gateway answered 2xx.
 *
 * Returns the body length, or -1 on bad arguments / invalid source id / tags,
 * -2 if `buf` cannot hold even the envelope plus one point.
 */
int fleetnode_build_payload(char *buf, size_t buf_size, const char *source_id,
                            const fleetnode_tags_t *tags, const fleetnode_queue_t *q,
                            size_t max_points, size_t *consumed);

#ifdef __cplusplus
}
#endif

#endif /* FLEETNODE_H */
