/**
 * @file fleetnode.c
 * @brief Hardware-free logic of the fleetscan ESP32 + BME280 node (see fleetnode.h).
 */

#include "fleetnode.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* Errors                                                                    */
/* ------------------------------------------------------------------------- */

const char *fleetnode_strerror(fleetnode_err_t err) {
    switch (err) {
    case FLEETNODE_OK:
        return "ok";
    case FLEETNODE_ERR_NULL:
        return "null pointer";
    case FLEETNODE_ERR_INVALID:
        return "invalid";
    case FLEETNODE_ERR_TOO_LONG:
        return "too long";
    case FLEETNODE_ERR_FULL:
        return "full";
    case FLEETNODE_ERR_NOT_FINITE:
        return "not finite";
    case FLEETNODE_ERR_CLOCK:
        return "clock not sane";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------- */
/* Reading validation                                                        */
/* ------------------------------------------------------------------------- */

const char *fleetnode_quantity_metric(fleetnode_quantity_t qty) {
    switch (qty) {
    case FLEETNODE_QTY_TEMPERATURE:
        return FLEETNODE_METRIC_TEMPERATURE;
    case FLEETNODE_QTY_HUMIDITY:
        return FLEETNODE_METRIC_HUMIDITY;
    case FLEETNODE_QTY_PRESSURE:
        return FLEETNODE_METRIC_PRESSURE;
    case FLEETNODE_QTY__COUNT:
        break;
    }
    return NULL;
}

const char *fleetnode_reading_status_name(fleetnode_reading_status_t status) {
    switch (status) {
    case FLEETNODE_READING_OK:
        return "ok";
    case FLEETNODE_READING_NOT_FINITE:
        return "not_finite";
    case FLEETNODE_READING_OUT_OF_RANGE:
        return "out_of_range";
    case FLEETNODE_READING_SUSPICIOUS:
        return "suspicious";
    }
    return "unknown";
}

fleetnode_reading_status_t fleetnode_check_reading(fleetnode_quantity_t qty, double value) {
    if (!isfinite(value)) {
        return FLEETNODE_READING_NOT_FINITE;
    }
    switch (qty) {
    case FLEETNODE_QTY_TEMPERATURE:
        if (value < FLEETNODE_TEMP_MIN_C || value > FLEETNODE_TEMP_MAX_C) {
            return FLEETNODE_READING_OUT_OF_RANGE;
        }
        return FLEETNODE_READING_OK;
    case FLEETNODE_QTY_HUMIDITY:
        if (value < FLEETNODE_HUMIDITY_MIN_PCT || value > FLEETNODE_HUMIDITY_MAX_PCT) {
            return FLEETNODE_READING_OUT_OF_RANGE;
        }
        if (value == 0.0) {
            return FLEETNODE_READING_SUSPICIOUS;
        }
        return FLEETNODE_READING_OK;
    case FLEETNODE_QTY_PRESSURE:
        if (value < FLEETNODE_PRESSURE_MIN_HPA || value > FLEETNODE_PRESSURE_MAX_HPA) {
            return FLEETNODE_READING_OUT_OF_RANGE;
        }
        return FLEETNODE_READING_OK;
    case FLEETNODE_QTY__COUNT:
        break;
    }
    return FLEETNODE_READING_OUT_OF_RANGE;
}

/* ------------------------------------------------------------------------- */
/* Source id                                                                 */
/* ------------------------------------------------------------------------- */

static bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool fleetnode_source_id_valid(const char *s) {
    if (s == NULL || !is_lower_alnum(s[0])) {
        return false;
    }
    size_t len = 1;
    for (const char *p = s + 1; *p != '\0'; p++) {
        if (!(is_lower_alnum(*p) || *p == '.' || *p == '_' || *p == '-')) {
            return false;
        }
        if (++len > FLEETNODE_SOURCE_ID_MAX_LEN) {
            return false;
        }
    }
    return true;
}

void fleetnode_mac_from_efuse(uint64_t efuse_mac, uint8_t mac[6]) {
    if (mac == NULL) {
        return;
    }
    for (unsigned i = 0; i < 6u; i++) {
        mac[i] = (uint8_t)((efuse_mac >> (8u * i)) & 0xFFu);
    }
}

fleetnode_err_t fleetnode_source_id_from_mac(const uint8_t mac[6], const char *prefix,
                                             char *out, size_t out_size) {
    if (mac == NULL || prefix == NULL || out == NULL) {
        return FLEETNODE_ERR_NULL;
    }
    if (!fleetnode_source_id_valid(prefix)) {
        return FLEETNODE_ERR_INVALID;
    }
    char tmp[FLEETNODE_SOURCE_ID_MAX_LEN + 8];
    int n = snprintf(tmp, sizeof tmp, "%s-%02x%02x%02x", prefix, (unsigned)mac[3],
                     (unsigned)mac[4], (unsigned)mac[5]);
    if (n < 0 || (size_t)n > FLEETNODE_SOURCE_ID_MAX_LEN || (size_t)n >= out_size) {
        return FLEETNODE_ERR_TOO_LONG;
    }
    memcpy(out, tmp, (size_t)n + 1u);
    return FLEETNODE_OK;
}

fleetnode_err_t fleetnode_resolve_source_id(const char *override_id, const uint8_t mac[6],
                                            const char *prefix, char *out, size_t out_size) {
    if (out == NULL) {
        return FLEETNODE_ERR_NULL;
    }
    if (override_id != NULL && override_id[0] != '\0') {
        size_t len = strlen(override_id);
        if (fleetnode_source_id_valid(override_id) && len < out_size) {
            memcpy(out, override_id, len + 1u);
            return FLEETNODE_OK;
        }
        fleetnode_err_t err = fleetnode_source_id_from_mac(mac, prefix, out, out_size);
        return err == FLEETNODE_OK ? FLEETNODE_ERR_INVALID : err;
    }
    return fleetnode_source_id_from_mac(mac, prefix, out, out_size);
}

/* ------------------------------------------------------------------------- */
/* Clock                                                                     */
/* ------------------------------------------------------------------------- */

bool fleetnode_epoch_ms_sane(uint64_t epoch_ms) {
    return epoch_ms >= FLEETNODE_MIN_EPOCH_MS && epoch_ms < FLEETNODE_MAX_EPOCH_MS;
}

/* ------------------------------------------------------------------------- */
/* Tags                                                                      */
/* ------------------------------------------------------------------------- */

/* 1..max_len printable ASCII (0x20-0x7E) chars; empty allowed if allow_empty. */
static bool printable_ascii(const char *s, size_t max_len, bool allow_empty) {
    size_t len = 0;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20u || c > 0x7Eu || ++len > max_len) {
            return false;
        }
    }
    return allow_empty || len > 0;
}

void fleetnode_tags_init(fleetnode_tags_t *tags) {
    if (tags != NULL) {
        memset(tags, 0, sizeof *tags);
    }
}

fleetnode_err_t fleetnode_tags_add(fleetnode_tags_t *tags, const char *key, const char *value) {
    if (tags == NULL || key == NULL) {
        return FLEETNODE_ERR_NULL;
    }
    if (value == NULL || value[0] == '\0') {
        return FLEETNODE_OK; /* "no such tag" */
    }
    if (!printable_ascii(key, FLEETNODE_TAG_MAX_LEN, false) ||
        !printable_ascii(value, FLEETNODE_TAG_MAX_LEN, false)) {
        return strlen(key) > FLEETNODE_TAG_MAX_LEN || strlen(value) > FLEETNODE_TAG_MAX_LEN
                   ? FLEETNODE_ERR_TOO_LONG
                   : FLEETNODE_ERR_INVALID;
    }
    for (size_t i = 0; i < tags->count; i++) {
        if (strcmp(tags->key[i], key) == 0) {
            return FLEETNODE_ERR_INVALID;
        }
    }
    if (tags->count >= FLEETNODE_MAX_TAGS) {
        return FLEETNODE_ERR_FULL;
    }
    memcpy(tags->key[tags->count], key, strlen(key) + 1u);
    memcpy(tags->value[tags->count], value, strlen(value) + 1u);
    tags->count++;
    return FLEETNODE_OK;
}

static bool tags_valid(const fleetnode_tags_t *tags) {
    if (tags->count > FLEETNODE_MAX_TAGS) {
        return false;
    }
    for (size_t i = 0; i < tags->count; i++) {
        if (memchr(tags->key[i], '\0', sizeof tags->key[i]) == NULL ||
            memchr(tags->value[i], '\0', sizeof tags->value[i]) == NULL ||
            !printable_ascii(tags->key[i], FLEETNODE_TAG_MAX_LEN, false) ||
            !printable_ascii(tags->value[i], FLEETNODE_TAG_MAX_LEN, false)) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------- */
/* Point queue                                                               */
/* ------------------------------------------------------------------------- */

void fleetnode_queue_init(fleetnode_queue_t *q, fleetnode_point_t *storage, size_t capacity) {
    if (q == NULL) {
        return;
    }
    q->items = storage;
    q->capacity = storage != NULL ? capacity : 0u;
    q->head = 0;
    q->count = 0;
    q->dropped = 0;
}

fleetnode_err_t fleetnode_queue_push(fleetnode_queue_t *q, const char *metric, double value,
                                     uint64_t timestamp_ms) {
    if (q == NULL || metric == NULL) {
        return FLEETNODE_ERR_NULL;
    }
    if (q->items == NULL || q->capacity == 0u) {
        return FLEETNODE_ERR_INVALID;
    }
    if (!printable_ascii(metric, FLEETNODE_METRIC_MAX_LEN, false)) {
        return FLEETNODE_ERR_INVALID;
    }
    if (!isfinite(value)) {
        return FLEETNODE_ERR_NOT_FINITE;
    }
    if (!fleetnode_epoch_ms_sane(timestamp_ms)) {
        return FLEETNODE_ERR_CLOCK;
    }
    if (q->count == q->capacity) { /* evict the oldest; never block */
        q->head = (q->head + 1u) % q->capacity;
        q->count--;
        q->dropped++;
    }
    fleetnode_point_t *p = &q->items[(q->head + q->count) % q->capacity];
    memset(p, 0, sizeof *p);
    memcpy(p->metric, metric, strlen(metric) + 1u);
    p->value = value;
    p->timestamp_ms = timestamp_ms;
    q->count++;
    return FLEETNODE_OK;
}

const fleetnode_point_t *fleetnode_queue_at(const fleetnode_queue_t *q, size_t i) {
    if (q == NULL || i >= q->count) {
        return NULL;
    }
    return &q->items[(q->head + i) % q->capacity];
}

size_t fleetnode_queue_pop(fleetnode_queue_t *q, size_t n) {
    if (q == NULL) {
        return 0;
    }
    if (n > q->count) {
        n = q->count;
    }
    if (n > 0u) {
        q->head = (q->head + n) % q->capacity;
        q->count -= n;
    }
    if (q->count == 0u) {
        q->head = 0;
    }
    return n;
}

/* ------------------------------------------------------------------------- */
/* One sensor cycle                                                          */
/* ------------------------------------------------------------------------- */

uint32_t fleetnode_counters_skipped(const fleetnode_counters_t *c) {
    if (c == NULL) {
        return 0;
    }
    return c->not_finite + c->out_of_range + c->suspicious;
}

fleetnode_err_t fleetnode_record_sample(fleetnode_queue_t *q, fleetnode_counters_t *counters,
                                        const fleetnode_sample_t *sample, bool sensor_present,
                                        uint64_t now_epoch_ms) {
    if (q == NULL || counters == NULL || (sensor_present && sample == NULL)) {
        return FLEETNODE_ERR_NULL;
    }
    if (!fleetnode_epoch_ms_sane(now_epoch_ms)) {
        counters->clock_unsynced++;
        return FLEETNODE_ERR_CLOCK;
    }
    counters->samples++;
    bool all_ok = sensor_present;
    if (sensor_present) {
        const double values[FLEETNODE_QTY__COUNT] = {
            sample->temperature_c, sample->humidity_pct, sample->pressure_hpa};
        for (int i = 0; i < (int)FLEETNODE_QTY__COUNT; i++) {
            fleetnode_quantity_t qty = (fleetnode_quantity_t)i;
            switch (fleetnode_check_reading(qty, values[i])) {
            case FLEETNODE_READING_OK: {
                fleetnode_err_t err = fleetnode_queue_push(q, fleetnode_quantity_metric(qty),
                                                           values[i], now_epoch_ms);
                if (err != FLEETNODE_OK) {
                    return err;
                }
                continue;
            }
            case FLEETNODE_READING_NOT_FINITE:
                counters->not_finite++;
                break;
            case FLEETNODE_READING_OUT_OF_RANGE:
                counters->out_of_range++;
                break;
            case FLEETNODE_READING_SUSPICIOUS:
                counters->suspicious++;
                break;
            }
            all_ok = false;
        }
    } else {
        counters->sensor_missing++;
    }
    return fleetnode_queue_push(q, FLEETNODE_METRIC_SENSOR_OK, all_ok ? 1.0 : 0.0, now_epoch_ms);
}

fleetnode_err_t fleetnode_record_diagnostics(fleetnode_queue_t *q,
                                             const fleetnode_counters_t *counters,
                                             uint32_t uptime_s, int rssi_dbm,
                                             uint64_t now_epoch_ms) {
    if (q == NULL || counters == NULL) {
        return FLEETNODE_ERR_NULL;
    }
    if (!fleetnode_epoch_ms_sane(now_epoch_ms)) {
        return FLEETNODE_ERR_CLOCK;
    }
    /* Read the drop counter first: these pushes may evict points themselves. */
    const double dropped = (double)q->dropped;
    fleetnode_err_t err =
        fleetnode_queue_push(q, FLEETNODE_METRIC_SKIPPED,
                             (double)fleetnode_counters_skipped(counters), now_epoch_ms);
    if (err == FLEETNODE_OK) {
        err = fleetnode_queue_push(q, FLEETNODE_METRIC_DROPPED, dropped, now_epoch_ms);
    }
    if (err == FLEETNODE_OK) {
        err = fleetnode_queue_push(q, FLEETNODE_METRIC_SENSOR_MISSING,
                                   (double)counters->sensor_missing, now_epoch_ms);
    }
    if (err == FLEETNODE_OK) {
        err = fleetnode_queue_push(q, FLEETNODE_METRIC_UPTIME, (double)uptime_s, now_epoch_ms);
    }
    if (err == FLEETNODE_OK && rssi_dbm < 0) {
        err = fleetnode_queue_push(q, FLEETNODE_METRIC_RSSI, (double)rssi_dbm, now_epoch_ms);
    }
    return err;
}

/* ------------------------------------------------------------------------- */
/* Flush decision                                                            */
/* ------------------------------------------------------------------------- */

void fleetnode_batcher_init(fleetnode_batcher_t *b, uint32_t interval_ms, size_t flush_count,
                            uint32_t backoff_max_ms, uint32_t now_ms) {
    if (b == NULL) {
        return;
    }
    memset(b, 0, sizeof *b);
    b->interval_ms = interval_ms;
    b->flush_count = flush_count;
    b->backoff_max_ms = backoff_max_ms < interval_ms ? interval_ms : backoff_max_ms;
    b->last_attempt_ms = now_ms;
}

bool fleetnode_batcher_due(const fleetnode_batcher_t *b, size_t queued, uint32_t now_ms) {
    if (b == NULL || queued == 0u) {
        return false;
    }
    uint32_t elapsed = now_ms - b->last_attempt_ms; /* unsigned: wrap-safe */
    if (b->backoff_ms > 0u) {
        return elapsed >= b->backoff_ms;
    }
    if (b->flush_count > 0u && queued >= b->flush_count) {
        return true;
    }
    return elapsed >= b->interval_ms;
}

void fleetnode_batcher_done(fleetnode_batcher_t *b, bool ok, uint32_t now_ms) {
    if (b == NULL) {
        return;
    }
    b->last_attempt_ms = now_ms;
    if (ok) {
        b->backoff_ms = 0;
        b->failures = 0;
        return;
    }
    b->failures++;
    if (b->backoff_ms == 0u) {
        b->backoff_ms = b->interval_ms > 0u ? b->interval_ms : 1000u;
    } else if (b->backoff_ms > b->backoff_max_ms / 2u) {
        b->backoff_ms = b->backoff_max_ms;
    } else {
        b->backoff_ms *= 2u;
    }
    if (b->backoff_ms > b->backoff_max_ms) {
        b->backoff_ms = b->backoff_max_ms;
    }
}

uint32_t fleetnode_next_backoff_ms(uint32_t prev_ms, uint32_t base_ms, uint32_t max_ms) {
    uint32_t next;
    if (prev_ms == 0u) {
        next = base_ms > 0u ? base_ms : 1000u;
    } else if (prev_ms > UINT32_MAX / 2u) {
        next = UINT32_MAX;
    } else {
        next = prev_ms * 2u;
    }
    return next > max_ms ? max_ms : next;
}

/* ------------------------------------------------------------------------- */
/* JSON payload                                                              */
/* ------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t size; /* including room for the NUL */
    size_t pos;
    bool overflow;
} writer_t;

static void w_raw(writer_t *w, const char *s, size_t len) {
    if (w->overflow) {
        return;
    }
    if (w->pos + len >= w->size) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->pos, s, len);
    w->pos += len;
    w->buf[w->pos] = '\0';
}

static void w_str(writer_t *w, const char *s) {
    w_raw(w, s, strlen(s));
}

/* A JSON string literal (RFC 8259 escaping). */
static void w_json_string(writer_t *w, const char *s) {
    w_raw(w, "\"", 1);
    for (const char *p = s; *p != '\0' && !w->overflow; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            w_raw(w, esc, 2);
        } else if (c < 0x20u) {
            char esc[8];
            int n = snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
            w_raw(w, esc, n > 0 ? (size_t)n : 0u);
        } else {
            w_raw(w, (const char *)p, 1);
        }
    }
    w_raw(w, "\"", 1);
}

/* A finite double as a JSON number ("%.6g" never yields "nan"/"inf" here). */
static void w_number(writer_t *w, double v) {
    char num[32];
    if (v == 0.0) {
        v = 0.0; /* fold -0.0 into 0 */
    }
    int n = snprintf(num, sizeof num, "%.6g", v);
    if (n <= 0 || (size_t)n >= sizeof num) {
        w->overflow = true;
        return;
    }
    w_raw(w, num, (size_t)n);
}

/* Decimal digits by hand: some embedded printf builds lack %llu. */
static void w_u64(writer_t *w, uint64_t v) {
    char num[24];
    size_t i = sizeof num;
    do {
        num[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    w_raw(w, num + i, sizeof num - i);
}

static void w_point(writer_t *w, const fleetnode_point_t *p, const fleetnode_tags_t *tags) {
    w_str(w, "{\"metric\":");
    w_json_string(w, p->metric);
    w_str(w, ",\"value\":");
    w_number(w, p->value);
    w_str(w, ",\"timestamp\":");
    w_u64(w, p->timestamp_ms);
    if (tags != NULL && tags->count > 0u) {
        w_str(w, ",\"tags\":{");
        for (size_t t = 0; t < tags->count; t++) {
            if (t > 0u) {
                w_raw(w, ",", 1);
            }
            w_json_string(w, tags->key[t]);
            w_raw(w, ":", 1);
            w_json_string(w, tags->value[t]);
        }
        w_raw(w, "}", 1);
    }
    w_raw(w, "}", 1);
}

static bool point_sendable(const fleetnode_point_t *p) {
    return isfinite(p->value) && fleetnode_epoch_ms_sane(p->timestamp_ms) &&
           memchr(p->metric, '\0', sizeof p->metric) != NULL &&
           printable_ascii(p->metric, FLEETNODE_METRIC_MAX_LEN, false);
}

int fleetnode_build_payload(char *buf, size_t buf_size, const char *source_id,
                            const fleetnode_tags_t *tags, const fleetnode_queue_t *q,
                            size_t max_points, size_t *consumed) {
    if (consumed != NULL) {
        *consumed = 0;
    }
    if (buf == NULL || buf_size == 0u || q == NULL || consumed == NULL ||
        !fleetnode_source_id_valid(source_id) || (tags != NULL && !tags_valid(tags))) {
        return -1;
    }
    if (buf_size > (size_t)INT_MAX) {
        buf_size = (size_t)INT_MAX; /* the length must fit the int result */
    }
    /* Keep room for the closing "]}" whatever happens inside the array. */
    const size_t closing = 2u;
    if (buf_size <= closing) {
        return -2;
    }
    writer_t w = {buf, buf_size - closing, 0u, false};
    buf[0] = '\0';
    w_str(&w, "{\"source_id\":");
    w_json_string(&w, source_id);
    w_str(&w, ",\"points\":[");
    if (w.overflow) {
        return -2;
    }

    size_t emitted = 0;
    size_t used = 0;
    size_t limit = max_points < q->count ? max_points : q->count;
    while (used < limit) {
        const fleetnode_point_t *p = fleetnode_queue_at(q, used);
        if (!point_sendable(p)) {
            used++; /* never serialise it; consume it so it cannot block the queue */
            continue;
        }
        size_t mark = w.pos;
        if (emitted > 0u) {
            w_raw(&w, ",", 1);
        }
        w_point(&w, p, tags);
        if (w.overflow) {
            w.overflow = false;
            w.pos = mark;
            buf[mark] = '\0';
            break;
        }
        emitted++;
        used++;
    }
    if (emitted == 0u && used < limit) {
        return -2; /* not even one point fits */
    }
    w.size = buf_size; /* release the reserved closing bytes */
    w_str(&w, "]}");
    if (w.overflow) {
        return -2;
    }
    *consumed = used;
    return (int)w.pos;
}
