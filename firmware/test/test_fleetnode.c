/**
 * @file test_fleetnode.c
 * @brief Host-side unit tests for lib/fleetnode (no hardware, no Arduino).
 *
 *   ./test_fleetnode             run the unit tests; the last line is "N passed, M failed"
 *   ./test_fleetnode --payloads  print one /ingest body per scenario as
 *                                "<scenario>\t<consumed>\t<json>" lines, which
 *                                tests/test_firmware.py checks against the gateway rules
 */

#include "fleetnode.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* A tiny test framework                                                     */
/* ------------------------------------------------------------------------- */

static int g_passed;
static int g_failed;
static int g_case_failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            g_case_failures++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_STR(actual, expected)                                                   \
    do {                                                                              \
        const char *a_ = (actual);                                                    \
        const char *e_ = (expected);                                                  \
        if (a_ == NULL || strcmp(a_, e_) != 0) {                                      \
            g_case_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\" (got \"%s\")\n",  \
                    __FILE__, __LINE__, #actual, e_, a_ == NULL ? "(null)" : a_);     \
        }                                                                             \
    } while (0)

#define RUN(test_fn)                                                \
    do {                                                            \
        g_case_failures = 0;                                        \
        test_fn();                                                  \
        if (g_case_failures == 0) {                                 \
            g_passed++;                                             \
        } else {                                                    \
            g_failed++;                                             \
            fprintf(stderr, "FAIL %s (%d checks)\n", #test_fn, g_case_failures); \
        }                                                           \
    } while (0)

/* 2026-01-01T00:00:00Z */
#define T0 ((uint64_t)1767225600000ULL)

static const uint8_t MAC[6] = {0x24, 0x6f, 0x28, 0xa1, 0xb2, 0xc3};

/* ------------------------------------------------------------------------- */
/* Reading validation                                                        */
/* ------------------------------------------------------------------------- */

static void test_temperature_range(void) {
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, 22.4) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, -40.0) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, 85.0) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, -40.01) ==
          FLEETNODE_READING_OUT_OF_RANGE);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, 85.01) ==
          FLEETNODE_READING_OUT_OF_RANGE);
    /* A BME280 on a floating bus decodes 0xFF bytes into absurd values. */
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_TEMPERATURE, -143.0) ==
          FLEETNODE_READING_OUT_OF_RANGE);
}

static void test_humidity_range_and_zero(void) {
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, 45.5) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, 100.0) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, 0.01) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, 0.0) == FLEETNODE_READING_SUSPICIOUS);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, -0.0) == FLEETNODE_READING_SUSPICIOUS);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, 100.5) ==
          FLEETNODE_READING_OUT_OF_RANGE);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_HUMIDITY, -1.0) == FLEETNODE_READING_OUT_OF_RANGE);
}

static void test_pressure_range(void) {
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_PRESSURE, 1013.25) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_PRESSURE, 300.0) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_PRESSURE, 1100.0) == FLEETNODE_READING_OK);
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_PRESSURE, 299.9) == FLEETNODE_READING_OUT_OF_RANGE);
    /* Pa instead of hPa (forgot the /100) is caught as out of range. */
    CHECK(fleetnode_check_reading(FLEETNODE_QTY_PRESSURE, 101325.0) ==
          FLEETNODE_READING_OUT_OF_RANGE);
}

static void test_non_finite_readings(void) {
    for (int q = 0; q < (int)FLEETNODE_QTY__COUNT; q++) {
        fleetnode_quantity_t qty = (fleetnode_quantity_t)q;
        CHECK(fleetnode_check_reading(qty, NAN) == FLEETNODE_READING_NOT_FINITE);
        CHECK(fleetnode_check_reading(qty, INFINITY) == FLEETNODE_READING_NOT_FINITE);
        CHECK(fleetnode_check_reading(qty, -INFINITY) == FLEETNODE_READING_NOT_FINITE);
    }
    CHECK(fleetnode_check_reading(FLEETNODE_QTY__COUNT, 1.0) == FLEETNODE_READING_OUT_OF_RANGE);
}

static void test_names(void) {
    CHECK_STR(fleetnode_quantity_metric(FLEETNODE_QTY_TEMPERATURE), "temperature");
    CHECK_STR(fleetnode_quantity_metric(FLEETNODE_QTY_HUMIDITY), "humidity");
    CHECK_STR(fleetnode_quantity_metric(FLEETNODE_QTY_PRESSURE), "pressure");
    CHECK(fleetnode_quantity_metric(FLEETNODE_QTY__COUNT) == NULL);
    CHECK_STR(fleetnode_reading_status_name(FLEETNODE_READING_SUSPICIOUS), "suspicious");
    CHECK_STR(fleetnode_reading_status_name(FLEETNODE_READING_NOT_FINITE), "not_finite");
    CHECK_STR(fleetnode_strerror(FLEETNODE_ERR_CLOCK), "clock not sane");
    CHECK_STR(fleetnode_strerror(FLEETNODE_OK), "ok");
}

/* ------------------------------------------------------------------------- */
/* Source id                                                                 */
/* ------------------------------------------------------------------------- */

static void test_source_id_valid(void) {
    CHECK(fleetnode_source_id_valid("esp32-bme280-a1b2c3"));
    CHECK(fleetnode_source_id_valid("0"));
    CHECK(fleetnode_source_id_valid("lab.node_7-b"));
    CHECK(!fleetnode_source_id_valid(NULL));
    CHECK(!fleetnode_source_id_valid(""));
    CHECK(!fleetnode_source_id_valid("Esp32"));      /* uppercase */
    CHECK(!fleetnode_source_id_valid("-esp32"));     /* bad first char */
    CHECK(!fleetnode_source_id_valid(".esp32"));
    CHECK(!fleetnode_source_id_valid("esp 32"));     /* space */
    CHECK(!fleetnode_source_id_valid("esp32/lab"));  /* slash */
    CHECK(!fleetnode_source_id_valid("caf\xc3\xa9")); /* non-ASCII */

    char id[80];
    memset(id, 'a', sizeof id);
    id[63] = '\0';
    CHECK(fleetnode_source_id_valid(id)); /* 63 chars */
    id[63] = 'a';
    id[64] = '\0';
    CHECK(!fleetnode_source_id_valid(id)); /* 64 chars */
}

static void test_mac_from_efuse(void) {
    /* ESP.getEfuseMac() packs mac[0] in the lowest byte. */
    uint64_t efuse = 0xc3b2a1286f24ULL;
    uint8_t mac[6] = {0};
    fleetnode_mac_from_efuse(efuse, mac);
    CHECK(memcmp(mac, MAC, 6) == 0);
    fleetnode_mac_from_efuse(efuse, NULL); /* must not crash */
}

static void test_source_id_from_mac(void) {
    char out[64];
    CHECK(fleetnode_source_id_from_mac(MAC, "esp32-bme280", out, sizeof out) == FLEETNODE_OK);
    CHECK_STR(out, "esp32-bme280-a1b2c3");
    CHECK(fleetnode_source_id_valid(out));

    const uint8_t upper[6] = {0, 0, 0, 0xAB, 0x0C, 0xFF};
    CHECK(fleetnode_source_id_from_mac(upper, "node", out, sizeof out) == FLEETNODE_OK);
    CHECK_STR(out, "node-ab0cff"); /* lowercase, zero-padded */

    char small[12];
    CHECK(fleetnode_source_id_from_mac(MAC, "esp32-bme280", small, sizeof small) ==
          FLEETNODE_ERR_TOO_LONG);
    CHECK(fleetnode_source_id_from_mac(MAC, "ESP32", out, sizeof out) == FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_source_id_from_mac(NULL, "esp32", out, sizeof out) == FLEETNODE_ERR_NULL);

    char prefix[64];
    memset(prefix, 'p', 57);
    prefix[57] = '\0'; /* 57 + "-xxxxxx" = 64 chars: one too many */
    CHECK(fleetnode_source_id_from_mac(MAC, prefix, out, sizeof out) == FLEETNODE_ERR_TOO_LONG);
    prefix[56] = '\0'; /* 63 chars: fits */
    CHECK(fleetnode_source_id_from_mac(MAC, prefix, out, sizeof out) == FLEETNODE_OK);
    CHECK(strlen(out) == 63u);
}

static void test_resolve_source_id(void) {
    char out[64];
    CHECK(fleetnode_resolve_source_id(NULL, MAC, "esp32-bme280", out, sizeof out) ==
          FLEETNODE_OK);
    CHECK_STR(out, "esp32-bme280-a1b2c3");
    CHECK(fleetnode_resolve_source_id("", MAC, "esp32-bme280", out, sizeof out) == FLEETNODE_OK);
    CHECK_STR(out, "esp32-bme280-a1b2c3");
    CHECK(fleetnode_resolve_source_id("greenhouse-7", MAC, "esp32-bme280", out, sizeof out) ==
          FLEETNODE_OK);
    CHECK_STR(out, "greenhouse-7");
    /* An invalid override is reported, and the derived id is still provided. */
    CHECK(fleetnode_resolve_source_id("Greenhouse 7", MAC, "esp32-bme280", out, sizeof out) ==
          FLEETNODE_ERR_INVALID);
    CHECK_STR(out, "esp32-bme280-a1b2c3");
}

/* ------------------------------------------------------------------------- */
/* Clock                                                                     */
/* ------------------------------------------------------------------------- */

static void test_epoch_sanity(void) {
    CHECK(fleetnode_epoch_ms_sane(T0));
    CHECK(fleetnode_epoch_ms_sane(FLEETNODE_MIN_EPOCH_MS));
    CHECK(!fleetnode_epoch_ms_sane(FLEETNODE_MIN_EPOCH_MS - 1u));
    CHECK(!fleetnode_epoch_ms_sane(FLEETNODE_MAX_EPOCH_MS));
    CHECK(!fleetnode_epoch_ms_sane(0));
    /* The SDK example's clock: ~uptime in ms since 1970, e.g. 5 min after boot. */
    CHECK(!fleetnode_epoch_ms_sane(300000ULL));
    /* Seconds instead of ms are below the floor too. */
    CHECK(!fleetnode_epoch_ms_sane(T0 / 1000u));
    CHECK(!fleetnode_epoch_ms_sane(UINT64_MAX));
}

/* ------------------------------------------------------------------------- */
/* Tags                                                                      */
/* ------------------------------------------------------------------------- */

static void test_tags(void) {
    fleetnode_tags_t tags;
    fleetnode_tags_init(&tags);
    CHECK(tags.count == 0u);
    CHECK(fleetnode_tags_add(&tags, "room", "lab") == FLEETNODE_OK);
    CHECK(fleetnode_tags_add(&tags, "site", "") == FLEETNODE_OK); /* blank = no tag */
    CHECK(fleetnode_tags_add(&tags, "floor", NULL) == FLEETNODE_OK);
    CHECK(tags.count == 1u);
    CHECK(fleetnode_tags_add(&tags, "room", "office") == FLEETNODE_ERR_INVALID); /* duplicate */
    CHECK(fleetnode_tags_add(&tags, "", "x") == FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_tags_add(&tags, "bad\nkey", "x") == FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_tags_add(&tags, "k", "0123456789012345678901234567890123") ==
          FLEETNODE_ERR_TOO_LONG);
    CHECK(fleetnode_tags_add(&tags, "site", "hq") == FLEETNODE_OK);
    CHECK(fleetnode_tags_add(&tags, "rack", "r1") == FLEETNODE_OK);
    CHECK(fleetnode_tags_add(&tags, "row", "2") == FLEETNODE_OK);
    CHECK(fleetnode_tags_add(&tags, "fifth", "no") == FLEETNODE_ERR_FULL);
    CHECK(tags.count == FLEETNODE_MAX_TAGS);
    CHECK_STR(tags.key[0], "room");
    CHECK_STR(tags.value[1], "hq");
    CHECK(fleetnode_tags_add(NULL, "k", "v") == FLEETNODE_ERR_NULL);
}

/* ------------------------------------------------------------------------- */
/* Queue                                                                     */
/* ------------------------------------------------------------------------- */

static void test_queue_push_pop_order(void) {
    fleetnode_point_t storage[4];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 4);
    CHECK(fleetnode_queue_at(&q, 0) == NULL);
    CHECK(fleetnode_queue_push(&q, "temperature", 21.0, T0) == FLEETNODE_OK);
    CHECK(fleetnode_queue_push(&q, "humidity", 40.0, T0 + 1) == FLEETNODE_OK);
    CHECK(q.count == 2u);
    CHECK_STR(fleetnode_queue_at(&q, 0)->metric, "temperature");
    CHECK(fleetnode_queue_at(&q, 1)->timestamp_ms == T0 + 1);
    CHECK(fleetnode_queue_pop(&q, 1) == 1u);
    CHECK_STR(fleetnode_queue_at(&q, 0)->metric, "humidity");
    CHECK(fleetnode_queue_pop(&q, 10) == 1u);
    CHECK(q.count == 0u);
    CHECK(fleetnode_queue_pop(&q, 1) == 0u);
    CHECK(q.dropped == 0u);
}

static void test_queue_drops_oldest_when_full(void) {
    fleetnode_point_t storage[3];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 3);
    for (int i = 0; i < 7; i++) {
        CHECK(fleetnode_queue_push(&q, "temperature", (double)i, T0 + (uint64_t)i) ==
              FLEETNODE_OK);
    }
    CHECK(q.count == 3u);
    CHECK(q.dropped == 4u);
    CHECK(fleetnode_queue_at(&q, 0)->value == 4.0); /* the newest three survive */
    CHECK(fleetnode_queue_at(&q, 2)->value == 6.0);
    /* Wrap-around keeps FIFO order after partial pops. */
    CHECK(fleetnode_queue_pop(&q, 2) == 2u);
    CHECK(fleetnode_queue_push(&q, "temperature", 7.0, T0 + 7) == FLEETNODE_OK);
    CHECK(fleetnode_queue_push(&q, "temperature", 8.0, T0 + 8) == FLEETNODE_OK);
    CHECK(fleetnode_queue_at(&q, 0)->value == 6.0);
    CHECK(fleetnode_queue_at(&q, 2)->value == 8.0);
    CHECK(q.dropped == 4u);
}

static void test_queue_rejects_bad_points(void) {
    fleetnode_point_t storage[4];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 4);
    CHECK(fleetnode_queue_push(&q, "temperature", NAN, T0) == FLEETNODE_ERR_NOT_FINITE);
    CHECK(fleetnode_queue_push(&q, "temperature", INFINITY, T0) == FLEETNODE_ERR_NOT_FINITE);
    CHECK(fleetnode_queue_push(&q, "temperature", 20.0, 12345u) == FLEETNODE_ERR_CLOCK);
    CHECK(fleetnode_queue_push(&q, "", 20.0, T0) == FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_queue_push(&q, "a-metric-name-that-is-far-too-long-for-us", 1.0, T0) ==
          FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_queue_push(&q, "tab\tname", 1.0, T0) == FLEETNODE_ERR_INVALID);
    CHECK(fleetnode_queue_push(NULL, "temperature", 1.0, T0) == FLEETNODE_ERR_NULL);
    CHECK(q.count == 0u);

    fleetnode_queue_t empty;
    fleetnode_queue_init(&empty, NULL, 8);
    CHECK(empty.capacity == 0u);
    CHECK(fleetnode_queue_push(&empty, "temperature", 1.0, T0) == FLEETNODE_ERR_INVALID);
}

/* ------------------------------------------------------------------------- */
/* One sensor cycle                                                          */
/* ------------------------------------------------------------------------- */

static void test_record_good_sample(void) {
    fleetnode_point_t storage[16];
    fleetnode_queue_t q;
    fleetnode_counters_t c = {0};
    fleetnode_queue_init(&q, storage, 16);
    fleetnode_sample_t s = {22.4, 45.0, 1013.25};
    CHECK(fleetnode_record_sample(&q, &c, &s, true, T0) == FLEETNODE_OK);
    CHECK(q.count == 4u);
    CHECK_STR(fleetnode_queue_at(&q, 0)->metric, "temperature");
    CHECK_STR(fleetnode_queue_at(&q, 1)->metric, "humidity");
    CHECK_STR(fleetnode_queue_at(&q, 2)->metric, "pressure");
    CHECK_STR(fleetnode_queue_at(&q, 3)->metric, "sensor.ok");
    CHECK(fleetnode_queue_at(&q, 3)->value == 1.0);
    CHECK(fleetnode_queue_at(&q, 2)->timestamp_ms == T0);
    CHECK(c.samples == 1u);
    CHECK(fleetnode_counters_skipped(&c) == 0u);
}

static void test_record_skips_and_counts_bad_readings(void) {
    fleetnode_point_t storage[16];
    fleetnode_queue_t q;
    fleetnode_counters_t c = {0};
    fleetnode_queue_init(&q, storage, 16);
    fleetnode_sample_t nan_h = {22.4, NAN, 1013.25};
    CHECK(fleetnode_record_sample(&q, &c, &nan_h, true, T0) == FLEETNODE_OK);
    CHECK(q.count == 3u); /* temperature, pressure, sensor.ok */
    CHECK_STR(fleetnode_queue_at(&q, 1)->metric, "pressure");
    CHECK(fleetnode_queue_at(&q, 2)->value == 0.0);
    CHECK(c.not_finite == 1u);

    fleetnode_sample_t weird = {150.0, 0.0, 1013.25};
    CHECK(fleetnode_record_sample(&q, &c, &weird, true, T0 + 2000u) == FLEETNODE_OK);
    CHECK(c.out_of_range == 1u);
    CHECK(c.suspicious == 1u);
    CHECK(fleetnode_counters_skipped(&c) == 3u);
    CHECK(q.count == 5u); /* + pressure, sensor.ok */
    for (size_t i = 0; i < q.count; i++) {
        CHECK(isfinite(fleetnode_queue_at(&q, i)->value));
        CHECK(strcmp(fleetnode_queue_at(&q, i)->metric, "humidity") != 0);
    }
    CHECK(c.samples == 2u);
}

static void test_record_sensor_missing_sends_no_values(void) {
    fleetnode_point_t storage[8];
    fleetnode_queue_t q;
    fleetnode_counters_t c = {0};
    fleetnode_queue_init(&q, storage, 8);
    CHECK(fleetnode_record_sample(&q, &c, NULL, false, T0) == FLEETNODE_OK);
    CHECK(q.count == 1u); /* no simulated temperature/humidity/pressure */
    CHECK_STR(fleetnode_queue_at(&q, 0)->metric, "sensor.ok");
    CHECK(fleetnode_queue_at(&q, 0)->value == 0.0);
    CHECK(c.sensor_missing == 1u);
    CHECK(fleetnode_record_sample(&q, &c, NULL, true, T0) == FLEETNODE_ERR_NULL);
}

static void test_record_refuses_unsynced_clock(void) {
    fleetnode_point_t storage[8];
    fleetnode_queue_t q;
    fleetnode_counters_t c = {0};
    fleetnode_queue_init(&q, storage, 8);
    fleetnode_sample_t s = {22.4, 45.0, 1013.25};
    CHECK(fleetnode_record_sample(&q, &c, &s, true, 4200u) == FLEETNODE_ERR_CLOCK);
    CHECK(q.count == 0u);
    CHECK(c.clock_unsynced == 1u);
    CHECK(c.samples == 0u);
}

/* ------------------------------------------------------------------------- */
/* Flush decision                                                            */
/* ------------------------------------------------------------------------- */

static void test_batcher_time_and_count(void) {
    fleetnode_batcher_t b;
    fleetnode_batcher_init(&b, 5000u, 16u, 60000u, 1000u);
    CHECK(!fleetnode_batcher_due(&b, 0u, 999999u)); /* nothing queued */
    CHECK(!fleetnode_batcher_due(&b, 4u, 5999u));
    CHECK(fleetnode_batcher_due(&b, 4u, 6000u)); /* 5 s elapsed */
    CHECK(fleetnode_batcher_due(&b, 16u, 1001u)); /* count reached */
    CHECK(!fleetnode_batcher_due(&b, 15u, 1001u));
    fleetnode_batcher_done(&b, true, 6000u);
    CHECK(!fleetnode_batcher_due(&b, 4u, 10999u));
    CHECK(fleetnode_batcher_due(&b, 4u, 11000u));
    CHECK(!fleetnode_batcher_due(NULL, 4u, 11000u));
}

static void test_batcher_backoff(void) {
    fleetnode_batcher_t b;
    fleetnode_batcher_init(&b, 5000u, 16u, 30000u, 0u);
    fleetnode_batcher_done(&b, false, 5000u);
    CHECK(b.failures == 1u);
    CHECK(b.backoff_ms == 5000u);
    CHECK(!fleetnode_batcher_due(&b, 100u, 9999u)); /* count trigger suspended */
    CHECK(fleetnode_batcher_due(&b, 1u, 10000u));
    fleetnode_batcher_done(&b, false, 10000u);
    CHECK(b.backoff_ms == 10000u);
    fleetnode_batcher_done(&b, false, 20000u);
    CHECK(b.backoff_ms == 20000u);
    fleetnode_batcher_done(&b, false, 40000u);
    CHECK(b.backoff_ms == 30000u); /* capped */
    fleetnode_batcher_done(&b, false, 70000u);
    CHECK(b.backoff_ms == 30000u);
    CHECK(b.failures == 5u);
    fleetnode_batcher_done(&b, true, 100000u);
    CHECK(b.backoff_ms == 0u);
    CHECK(b.failures == 0u);
    CHECK(fleetnode_batcher_due(&b, 16u, 100001u));
}

static void test_batcher_millis_wraparound(void) {
    fleetnode_batcher_t b;
    uint32_t start = UINT32_MAX - 1000u;
    fleetnode_batcher_init(&b, 5000u, 16u, 60000u, start);
    CHECK(!fleetnode_batcher_due(&b, 3u, start + 2000u)); /* wrapped, 2 s */
    CHECK(fleetnode_batcher_due(&b, 3u, start + 5000u));  /* wrapped, 5 s */
}

static void test_next_backoff(void) {
    CHECK(fleetnode_next_backoff_ms(0u, 10000u, 120000u) == 10000u);
    CHECK(fleetnode_next_backoff_ms(10000u, 10000u, 120000u) == 20000u);
    CHECK(fleetnode_next_backoff_ms(80000u, 10000u, 120000u) == 120000u);
    CHECK(fleetnode_next_backoff_ms(120000u, 10000u, 120000u) == 120000u);
    CHECK(fleetnode_next_backoff_ms(0u, 0u, 60000u) == 1000u);
    CHECK(fleetnode_next_backoff_ms(UINT32_MAX - 1u, 1000u, UINT32_MAX) == UINT32_MAX);
}

static void test_diagnostics(void) {
    fleetnode_point_t storage[8];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 8);
    q.dropped = 3;
    fleetnode_counters_t c = {0};
    c.not_finite = 2;
    c.suspicious = 1;
    c.sensor_missing = 4;
    CHECK(fleetnode_record_diagnostics(&q, &c, 3600u, -67, T0) == FLEETNODE_OK);
    CHECK(q.count == 5u);
    CHECK_STR(fleetnode_queue_at(&q, 0)->metric, "node.readings_skipped");
    CHECK(fleetnode_queue_at(&q, 0)->value == 3.0);
    CHECK(fleetnode_queue_at(&q, 1)->value == 3.0);
    CHECK(fleetnode_queue_at(&q, 2)->value == 4.0);
    CHECK(fleetnode_queue_at(&q, 3)->value == 3600.0);
    CHECK_STR(fleetnode_queue_at(&q, 4)->metric, "node.wifi_rssi_dbm");
    CHECK(fleetnode_queue_at(&q, 4)->value == -67.0);
    /* rssi 0 = unknown (not connected): not sent */
    CHECK(fleetnode_record_diagnostics(&q, &c, 3600u, 0, T0) == FLEETNODE_OK);
    CHECK(q.count == 8u);
    CHECK(q.dropped == 4u); /* capacity 8: one eviction */
    CHECK(fleetnode_record_diagnostics(&q, &c, 1u, -50, 1000u) == FLEETNODE_ERR_CLOCK);
    CHECK(fleetnode_record_diagnostics(NULL, &c, 1u, -50, T0) == FLEETNODE_ERR_NULL);
}

/* ------------------------------------------------------------------------- */
/* JSON payload                                                              */
/* ------------------------------------------------------------------------- */

static void test_payload_exact_bytes(void) {
    fleetnode_point_t storage[4];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 4);
    fleetnode_tags_t tags;
    fleetnode_tags_init(&tags);
    CHECK(fleetnode_tags_add(&tags, "room", "lab") == FLEETNODE_OK);
    /* A float reading as the driver returns it: 22.4f is 22.399999618... */
    CHECK(fleetnode_queue_push(&q, "temperature", (double)22.4f, T0) == FLEETNODE_OK);
    CHECK(fleetnode_queue_push(&q, "pressure", (double)1013.2543f, T0 + 2000u) == FLEETNODE_OK);
    char buf[512];
    size_t consumed = 99;
    int n = fleetnode_build_payload(buf, sizeof buf, "esp32-bme280-a1b2c3", &tags, &q, 10,
                                    &consumed);
    const char *expected =
        "{\"source_id\":\"esp32-bme280-a1b2c3\",\"points\":["
        "{\"metric\":\"temperature\",\"value\":22.4,\"timestamp\":1767225600000,"
        "\"tags\":{\"room\":\"lab\"}},"
        "{\"metric\":\"pressure\",\"value\":1013.25,\"timestamp\":1767225602000,"
        "\"tags\":{\"room\":\"lab\"}}]}";
    CHECK_STR(buf, expected);
    CHECK(n == (int)strlen(expected));
    CHECK(consumed == 2u);
    CHECK(q.count == 2u); /* building does not pop */
}

static void test_payload_without_tags_and_empty(void) {
    fleetnode_point_t storage[2];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 2);
    char buf[256];
    size_t consumed = 0;
    int n = fleetnode_build_payload(buf, sizeof buf, "node-1", NULL, &q, 10, &consumed);
    CHECK_STR(buf, "{\"source_id\":\"node-1\",\"points\":[]}");
    CHECK(n == (int)strlen(buf));
    CHECK(consumed == 0u);

    CHECK(fleetnode_queue_push(&q, "sensor.ok", -0.0, T0) == FLEETNODE_OK);
    fleetnode_tags_t none;
    fleetnode_tags_init(&none);
    n = fleetnode_build_payload(buf, sizeof buf, "node-1", &none, &q, 10, &consumed);
    CHECK_STR(buf, "{\"source_id\":\"node-1\",\"points\":["
                   "{\"metric\":\"sensor.ok\",\"value\":0,\"timestamp\":1767225600000}]}");
    CHECK(n > 0);
    CHECK(consumed == 1u);
}

static void test_payload_escapes_tags(void) {
    fleetnode_point_t storage[1];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 1);
    CHECK(fleetnode_queue_push(&q, "humidity", 50.5, T0) == FLEETNODE_OK);
    fleetnode_tags_t tags;
    fleetnode_tags_init(&tags);
    CHECK(fleetnode_tags_add(&tags, "room", "lab \"B\"\\2") == FLEETNODE_OK);
    char buf[256];
    size_t consumed = 0;
    CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", &tags, &q, 10, &consumed) > 0);
    CHECK(strstr(buf, "\"tags\":{\"room\":\"lab \\\"B\\\"\\\\2\"}") != NULL);
}

static void test_payload_respects_max_points_and_buffer(void) {
    fleetnode_point_t storage[32];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 32);
    for (int i = 0; i < 30; i++) {
        CHECK(fleetnode_queue_push(&q, "temperature", 20.0 + i * 0.1, T0 + (uint64_t)i) ==
              FLEETNODE_OK);
    }
    char big[8192];
    size_t consumed = 0;
    CHECK(fleetnode_build_payload(big, sizeof big, "n1", NULL, &q, 7, &consumed) > 0);
    CHECK(consumed == 7u);

    /* A small buffer takes what fits; the rest waits for the next batch. */
    char small[300];
    int n = fleetnode_build_payload(small, sizeof small, "n1", NULL, &q, 30, &consumed);
    CHECK(n > 0 && (size_t)n < sizeof small);
    CHECK(consumed > 0u && consumed < 30u);
    CHECK(small[n - 2] == ']' && small[n - 1] == '}' && small[n] == '\0');

    /* Too small for even one point. */
    char tiny[48];
    CHECK(fleetnode_build_payload(tiny, sizeof tiny, "n1", NULL, &q, 30, &consumed) == -2);
    CHECK(consumed == 0u);
}

static void test_payload_rejects_bad_arguments(void) {
    fleetnode_point_t storage[1];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 1);
    char buf[128];
    size_t consumed = 0;
    CHECK(fleetnode_build_payload(buf, sizeof buf, "Bad ID", NULL, &q, 1, &consumed) == -1);
    CHECK(fleetnode_build_payload(buf, sizeof buf, NULL, NULL, &q, 1, &consumed) == -1);
    CHECK(fleetnode_build_payload(NULL, 10, "n1", NULL, &q, 1, &consumed) == -1);
    CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", NULL, NULL, 1, &consumed) == -1);
    CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", NULL, &q, 1, NULL) == -1);
    fleetnode_tags_t broken;
    fleetnode_tags_init(&broken);
    broken.count = 1; /* key "" is invalid */
    CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", &broken, &q, 1, &consumed) == -1);
}

static void test_payload_never_emits_null_or_nan(void) {
    /* Corrupt the queue behind the API's back: the builder must still not emit NaN. */
    fleetnode_point_t storage[3];
    fleetnode_queue_t q;
    fleetnode_queue_init(&q, storage, 3);
    CHECK(fleetnode_queue_push(&q, "temperature", 21.0, T0) == FLEETNODE_OK);
    CHECK(fleetnode_queue_push(&q, "humidity", 40.0, T0) == FLEETNODE_OK);
    CHECK(fleetnode_queue_push(&q, "pressure", 1000.0, T0) == FLEETNODE_OK);
    storage[1].value = NAN;
    storage[2].timestamp_ms = 1000u;
    char buf[512];
    size_t consumed = 0;
    CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", NULL, &q, 3, &consumed) > 0);
    CHECK(consumed == 3u); /* the bad ones are consumed so they cannot block */
    CHECK(strstr(buf, "null") == NULL);
    CHECK(strstr(buf, "nan") == NULL);
    CHECK(strstr(buf, "humidity") == NULL);
    CHECK(strstr(buf, "pressure") == NULL);
    CHECK(strstr(buf, "temperature") != NULL);
}

static void test_payload_number_formats(void) {
    const double values[] = {1e-7, 123456789.0, -40.0, 99.99999, 0.1};
    const char *expect[] = {"1e-07", "1.23457e+08", "-40", "100", "0.1"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        fleetnode_point_t storage[1];
        fleetnode_queue_t q;
        fleetnode_queue_init(&q, storage, 1);
        CHECK(fleetnode_queue_push(&q, "m", values[i], T0) == FLEETNODE_OK);
        char buf[256];
        char want[64];
        size_t consumed = 0;
        CHECK(fleetnode_build_payload(buf, sizeof buf, "n1", NULL, &q, 1, &consumed) > 0);
        snprintf(want, sizeof want, "\"value\":%s,", expect[i]);
        CHECK(strstr(buf, want) != NULL);
    }
}

/* ------------------------------------------------------------------------- */
/* --payloads: bodies for the Python gateway-rule checks                     */
/* ------------------------------------------------------------------------- */

static void emit(const char *scenario, const char *source_id, const fleetnode_tags_t *tags,
                 const fleetnode_queue_t *q, size_t max_points, size_t buf_size) {
    static char buf[65536];
    size_t consumed = 0;
    if (buf_size > sizeof buf) {
        buf_size = sizeof buf;
    }
    int n = fleetnode_build_payload(buf, buf_size, source_id, tags, q, max_points, &consumed);
    if (n < 0) {
        printf("%s\t-1\tERROR %d\n", scenario, n);
        return;
    }
    printf("%s\t%zu\t%s\n", scenario, consumed, buf);
}

static int print_payloads(void) {
    static fleetnode_point_t storage[512];
    fleetnode_queue_t q;
    fleetnode_counters_t c;
    fleetnode_tags_t tags;
    char source_id[64];

    /* normal: three 2-s cycles from a board with a MAC-derived id and room/site tags */
    if (fleetnode_resolve_source_id("", MAC, "esp32-bme280", source_id, sizeof source_id) !=
        FLEETNODE_OK) {
        return 1;
    }
    fleetnode_tags_init(&tags);
    (void)fleetnode_tags_add(&tags, "room", "lab");
    (void)fleetnode_tags_add(&tags, "site", "hq");
    fleetnode_queue_init(&q, storage, 512);
    memset(&c, 0, sizeof c);
    const float temps[3] = {22.4f, 22.45f, 22.5f};
    for (int i = 0; i < 3; i++) {
        fleetnode_sample_t s = {temps[i], 45.2f + (float)i, 1013.2543f};
        (void)fleetnode_record_sample(&q, &c, &s, true, T0 + 2000u * (uint64_t)i);
    }
    emit("normal", source_id, &tags, &q, 100, 4096);

    /* nan_skipped: a NaN humidity, then an out-of-range temperature */
    fleetnode_queue_init(&q, storage, 512);
    fleetnode_tags_init(&tags);
    (void)fleetnode_tags_add(&tags, "room", "lab");
    fleetnode_sample_t nan_h = {22.4f, NAN, 1013.25f};
    fleetnode_sample_t hot = {-143.0f, 40.0f, 1013.0f};
    (void)fleetnode_record_sample(&q, &c, &nan_h, true, T0);
    (void)fleetnode_record_sample(&q, &c, &hot, true, T0 + 2000u);
    emit("nan_skipped", source_id, &tags, &q, 100, 4096);

    /* sensor_missing: no BME280 answered; only the fault metric goes out */
    fleetnode_queue_init(&q, storage, 512);
    (void)fleetnode_record_sample(&q, &c, NULL, false, T0);
    (void)fleetnode_record_sample(&q, &c, NULL, false, T0 + 2000u);
    emit("sensor_missing", source_id, &tags, &q, 100, 4096);

    /* no_tags with an overridden id */
    fleetnode_queue_init(&q, storage, 512);
    fleetnode_sample_t ok = {19.75f, 61.0f, 987.5f};
    (void)fleetnode_record_sample(&q, &c, &ok, true, T0);
    emit("no_tags", "greenhouse-7.node_2", NULL, &q, 100, 4096);

    /* escaped_tags: quotes and a backslash in a configured tag value */
    fleetnode_tags_init(&tags);
    (void)fleetnode_tags_add(&tags, "room", "lab \"B\"\\2");
    (void)fleetnode_tags_add(&tags, "site", "hq-1");
    emit("escaped_tags", source_id, &tags, &q, 100, 4096);

    /* max_batch: 120 cycles queued (480 points), one batch of at most 100 */
    fleetnode_queue_init(&q, storage, 512);
    fleetnode_tags_init(&tags);
    (void)fleetnode_tags_add(&tags, "room", "office");
    for (int i = 0; i < 120; i++) {
        fleetnode_sample_t s = {21.0f + (float)(i % 10) * 0.1f, 40.0f, 1000.0f};
        (void)fleetnode_record_sample(&q, &c, &s, true, T0 + 2000u * (uint64_t)i);
    }
    emit("max_batch", source_id, &tags, &q, 100, 65536);

    /* small_buffer: the same queue, into a 1 KiB body */
    emit("small_buffer", source_id, &tags, &q, 100, 1024);

    /* overflow: a queue of 8 after 5 cycles (20 points) keeps the newest 8 */
    fleetnode_queue_init(&q, storage, 8);
    for (int i = 0; i < 5; i++) {
        fleetnode_sample_t s = {20.0f + (float)i, 50.0f, 1010.0f};
        (void)fleetnode_record_sample(&q, &c, &s, true, T0 + 2000u * (uint64_t)i);
    }
    emit("overflow", source_id, &tags, &q, 100, 4096);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--payloads") == 0) {
        return print_payloads();
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--payloads]\n", argv[0]);
        return 2;
    }

    RUN(test_temperature_range);
    RUN(test_humidity_range_and_zero);
    RUN(test_pressure_range);
    RUN(test_non_finite_readings);
    RUN(test_names);
    RUN(test_source_id_valid);
    RUN(test_mac_from_efuse);
    RUN(test_source_id_from_mac);
    RUN(test_resolve_source_id);
    RUN(test_epoch_sanity);
    RUN(test_tags);
    RUN(test_queue_push_pop_order);
    RUN(test_queue_drops_oldest_when_full);
    RUN(test_queue_rejects_bad_points);
    RUN(test_record_good_sample);
    RUN(test_record_skips_and_counts_bad_readings);
    RUN(test_record_sensor_missing_sends_no_values);
    RUN(test_record_refuses_unsynced_clock);
    RUN(test_batcher_time_and_count);
    RUN(test_batcher_backoff);
    RUN(test_batcher_millis_wraparound);
    RUN(test_next_backoff);
    RUN(test_diagnostics);
    RUN(test_payload_exact_bytes);
    RUN(test_payload_without_tags_and_empty);
    RUN(test_payload_escapes_tags);
    RUN(test_payload_respects_max_points_and_buffer);
    RUN(test_payload_rejects_bad_arguments);
    RUN(test_payload_never_emits_null_or_nan);
    RUN(test_payload_number_formats);

    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
