/*
 * fleetscan_node — ESP32 + BME280 -> Plexus gateway (POST /ingest), fleet-ready.
 *
 * Reads temperature (C), humidity (%) and pressure (hPa) every 2 s and sends
 * them in batches (every 5 s, or sooner once enough points are queued).
 * Compared with the Plexus C SDK's BME280_Dashboard example it:
 *   - derives a unique source id per board from the chip MAC (overridable);
 *   - syncs real time over NTP (configTime) and sends nothing while the clock
 *     is not sane, instead of boot-relative timestamps that land decades off;
 *   - skips and counts NaN / out-of-range readings instead of sending null
 *     (a null value gets a 400 that blocks the SDK's retry buffer for good);
 *   - reports a missing sensor as sensor.ok = 0, never with simulated values;
 *   - reconnects Wi-Fi with backoff, keeps a bounded queue that drops the
 *     oldest points (counted) while offline, and never blocks on a bad batch;
 *   - tags every point with room/site from config.h.
 *
 * All decisions live in the fleetnode library (firmware/lib/fleetnode, plain
 * C, unit-tested on the host); this file only does the I/O.
 *
 * Build: PlatformIO (firmware/platformio.ini, whose src/main.cpp includes this
 * file) or the Arduino IDE (open this folder; see firmware/README.md).
 * Settings: copy config.example.h to config.h next to this file.
 */

#include <Arduino.h>
#include <WiFi.h>
#include <Wire.h>
#include <sys/time.h>
#include <time.h>

#include <Adafruit_BME280.h>
#include <Adafruit_Sensor.h>
#include <fleetnode.h>
#include <plexus.h>

#if defined(__has_include)
#if __has_include("config.h")
#include "config.h"
#else
#error "fleetscan_node: copy config.example.h to config.h (next to fleetscan_node.ino) and edit it"
#endif
#else
#include "config.h"
#endif

/* ---- Optional settings and their defaults ------------------------------- */
#ifndef SOURCE_ID_OVERRIDE
#define SOURCE_ID_OVERRIDE ""
#endif
#ifndef SOURCE_ID_PREFIX
#define SOURCE_ID_PREFIX "esp32-bme280"
#endif
#ifndef TAG_ROOM
#define TAG_ROOM ""
#endif
#ifndef TAG_SITE
#define TAG_SITE ""
#endif
#ifndef NTP_SERVER_1
#define NTP_SERVER_1 "pool.ntp.org"
#endif
#ifndef NTP_SERVER_2
#define NTP_SERVER_2 "time.google.com"
#endif
#ifndef I2C_SDA_PIN
#define I2C_SDA_PIN -1
#endif
#ifndef I2C_SCL_PIN
#define I2C_SCL_PIN -1
#endif
#ifndef READ_INTERVAL_MS
#define READ_INTERVAL_MS 2000u
#endif
#ifndef FLUSH_INTERVAL_MS
#define FLUSH_INTERVAL_MS 5000u
#endif
#ifndef FLUSH_COUNT
#define FLUSH_COUNT 32u
#endif
#ifndef FLUSH_BACKOFF_MAX_MS
#define FLUSH_BACKOFF_MAX_MS 60000u
#endif
#ifndef BATCH_MAX_POINTS
#define BATCH_MAX_POINTS 60u
#endif
#ifndef QUEUE_CAPACITY
#define QUEUE_CAPACITY 600u
#endif
#ifndef PAYLOAD_BUFFER_SIZE
#define PAYLOAD_BUFFER_SIZE 8192u
#endif
#ifndef DIAG_INTERVAL_MS
#define DIAG_INTERVAL_MS 60000u
#endif
#ifndef SENSOR_RETRY_MS
#define SENSOR_RETRY_MS 10000u
#endif
#ifndef WIFI_RETRY_BASE_MS
#define WIFI_RETRY_BASE_MS 10000u
#endif
#ifndef WIFI_RETRY_MAX_MS
#define WIFI_RETRY_MAX_MS 120000u
#endif
#ifndef SETUP_WAIT_MS
#define SETUP_WAIT_MS 30000u
#endif
#ifndef FLEETNODE_USE_SDK_QUEUE
#define FLEETNODE_USE_SDK_QUEUE 0
#endif

#ifdef PLEXUS_SDK_VERSION
#define FLEETNODE_USER_AGENT "fleetscan-node/" FLEETNODE_VERSION " plexus-c-sdk/" PLEXUS_SDK_VERSION
#else
#define FLEETNODE_USER_AGENT "fleetscan-node/" FLEETNODE_VERSION
#endif

/* ---- State --------------------------------------------------------------- */

static Adafruit_BME280 bme;
static bool sensor_present = false;
static uint8_t sensor_addr = 0;
static uint32_t sensor_retry_ms = 0;

static fleetnode_point_t queue_storage[QUEUE_CAPACITY];
static fleetnode_queue_t queue;
static fleetnode_counters_t counters;
static fleetnode_batcher_t batcher;
static fleetnode_tags_t tags;
static char source_id[FLEETNODE_SOURCE_ID_MAX_LEN + 1];
static char payload[PAYLOAD_BUFFER_SIZE];

static plexus_client_t *px = NULL;

static bool wifi_up = false;
static uint32_t wifi_retry_at_ms = 0;
static uint32_t wifi_backoff_ms = 0;
static bool clock_ok = false;
static uint32_t last_read_ms = 0;
static uint32_t last_diag_ms = 0;
static uint32_t last_clock_warn_ms = 0;
static uint32_t batches_sent = 0;
static uint32_t batches_failed = 0;

/* ---- Helpers ------------------------------------------------------------- */

static uint64_t epoch_ms_now() {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000ULL + (uint64_t)(tv.tv_usec / 1000);
}

/* A configuration error the board cannot work around: say so forever. */
static void halt_config_error(const char *what) {
    for (;;) {
        Serial.printf("CONFIG ERROR: %s (edit config.h and re-flash)\n", what);
        delay(10000);
    }
}

static bool sensor_begin() {
    const uint8_t addrs[2] = {0x76, 0x77};
    for (uint8_t a : addrs) {
        if (bme.begin(a, &Wire)) {
            sensor_addr = a;
            Serial.printf("BME280 found at 0x%02x\n", a);
            return true;
        }
    }
    return false;
}

/* Is the chip still on the bus? (the driver itself never reports I2C errors) */
static bool sensor_answers() {
    Wire.beginTransmission(sensor_addr);
    return Wire.endTransmission() == 0;
}

/* ---- Wi-Fi and clock ----------------------------------------------------- */

static void maintain_wifi(uint32_t now) {
    if (WiFi.status() == WL_CONNECTED) {
        if (!wifi_up) {
            wifi_up = true;
            wifi_backoff_ms = 0;
            Serial.printf("Wi-Fi connected, IP %s, RSSI %d dBm\n",
                          WiFi.localIP().toString().c_str(), (int)WiFi.RSSI());
        }
        return;
    }
    if (wifi_up) {
        wifi_up = false;
        wifi_retry_at_ms = now; /* try again right away, then back off */
        Serial.println("Wi-Fi lost; reconnecting (points are kept in the queue)");
    }
    if ((int32_t)(now - wifi_retry_at_ms) < 0) {
        return;
    }
    WiFi.disconnect();
    WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
    wifi_backoff_ms = fleetnode_next_backoff_ms(wifi_backoff_ms, WIFI_RETRY_BASE_MS,
                                                WIFI_RETRY_MAX_MS);
    wifi_retry_at_ms = now + wifi_backoff_ms;
    Serial.printf("Wi-Fi: connecting to \"%s\" (next retry in %lu s)\n", WIFI_SSID,
                  (unsigned long)(wifi_backoff_ms / 1000u));
}

static void maintain_clock(uint32_t now) {
    bool sane = fleetnode_epoch_ms_sane(epoch_ms_now());
    if (sane && !clock_ok) {
        time_t t = time(NULL);
        struct tm utc;
        gmtime_r(&t, &utc);
        char iso[32];
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &utc);
        Serial.printf("Clock synced over NTP: %s\n", iso);
    } else if (!sane && (clock_ok || now - last_clock_warn_ms >= 30000u)) {
        last_clock_warn_ms = now;
        Serial.println("Clock not synced (NTP): not recording or sending until it is");
    }
    clock_ok = sane;
}

/* ---- Sensor cycle -------------------------------------------------------- */

static void read_sensor(uint32_t now) {
    if (sensor_present && !sensor_answers()) {
        sensor_present = false;
        sensor_retry_ms = now;
        Serial.println("BME280 stopped answering on I2C: reporting sensor.ok=0");
    }
    if (!sensor_present && now - sensor_retry_ms >= SENSOR_RETRY_MS) {
        sensor_retry_ms = now;
        sensor_present = sensor_begin();
    }

    fleetnode_sample_t s = {NAN, NAN, NAN};
    if (sensor_present) {
        s.temperature_c = bme.readTemperature();
        s.humidity_pct = bme.readHumidity();
        s.pressure_hpa = bme.readPressure() / 100.0f;
    }
    const uint32_t skipped_before = fleetnode_counters_skipped(&counters);
    fleetnode_err_t err = fleetnode_record_sample(&queue, &counters, sensor_present ? &s : NULL,
                                                  sensor_present, epoch_ms_now());
    if (err == FLEETNODE_ERR_CLOCK) {
        return; /* counted in counters.clock_unsynced; maintain_clock() logs */
    }
    if (!sensor_present) {
        Serial.println("BME280 missing: sent sensor.ok=0 (no simulated values)");
        return;
    }
    Serial.printf("T=%.2f C  H=%.2f %%  P=%.2f hPa  queued=%u", s.temperature_c,
                  s.humidity_pct, s.pressure_hpa, (unsigned)queue.count);
    if (fleetnode_counters_skipped(&counters) != skipped_before) {
        Serial.printf("  (skipped invalid reading(s): %lu so far)",
                      (unsigned long)fleetnode_counters_skipped(&counters));
    }
    Serial.println();
}

/* ---- Sending ------------------------------------------------------------- */

#ifdef PLEXUS_ROOT_CA
/*
 * The SDK's Arduino transport (v0.1.1) calls WiFiClientSecure::setInsecure(): the link is
 * encrypted but the gateway's certificate is not checked, so anyone who can intercept the
 * Wi-Fi can pose as the gateway and read the API key. With PLEXUS_ROOT_CA (a PEM root
 * certificate, see config.example.h) batches go out through this transport instead, which
 * verifies the gateway against that CA and never follows a redirect.
 */
#include <HTTPClient.h>
#include <WiFiClientSecure.h>

static plexus_err_t post_verified(const char *body, size_t len) {
    WiFiClientSecure tls;
    tls.setCACert(PLEXUS_ROOT_CA);
    HTTPClient http;
    if (!http.begin(tls, PLEXUS_ENDPOINT)) {
        return PLEXUS_ERR_NETWORK;
    }
    http.setFollowRedirects(HTTPC_DISABLE_FOLLOW_REDIRECTS);
    http.setTimeout(10000);
    http.addHeader("Content-Type", "application/json");
    http.addHeader("x-api-key", PLEXUS_API_KEY);
    http.addHeader("User-Agent", FLEETNODE_USER_AGENT);
    int code = http.POST((uint8_t *)body, len);
    http.end();
    if (code >= 200 && code < 300) {
        return PLEXUS_OK;
    }
    if (code == 401 || code == 403) {
        return PLEXUS_ERR_AUTH;
    }
    return code >= 500 ? PLEXUS_ERR_SERVER : PLEXUS_ERR_NETWORK;
}
#endif

#if FLEETNODE_USE_SDK_QUEUE
/*
 * Fallback for SDK builds whose plexus_hal_http_post() signature differs:
 * hand the batch to the SDK's own buffer and flush it. The SDK serialises the
 * JSON; with tags, plexus_send_number_tagged() stamps points at hand-over time
 * (up to FLUSH_INTERVAL_MS later than the reading). The SDK buffer is cleared
 * after a failure so a rejected batch can never block it; the points stay in
 * the fleetnode queue for the next attempt.
 */
static bool send_batch(size_t *consumed) {
    const char *keys[FLEETNODE_MAX_TAGS];
    const char *values[FLEETNODE_MAX_TAGS];
    for (size_t t = 0; t < tags.count; t++) {
        keys[t] = tags.key[t];
        values[t] = tags.value[t];
    }
    size_t limit = queue.count < BATCH_MAX_POINTS ? queue.count : BATCH_MAX_POINTS;
    if (limit > (size_t)PLEXUS_MAX_METRICS - 1u) {
        limit = (size_t)PLEXUS_MAX_METRICS - 1u; /* stay below the SDK's count auto-flush */
    }
    plexus_clear(px);
    size_t n = 0;
    for (; n < limit; n++) {
        const fleetnode_point_t *p = fleetnode_queue_at(&queue, n);
        plexus_err_t err =
            tags.count > 0
                ? plexus_send_number_tagged(px, p->metric, p->value, keys, values,
                                            (uint8_t)tags.count)
                : plexus_send_number_ts(px, p->metric, p->value, p->timestamp_ms);
        if (err != PLEXUS_OK) {
            break;
        }
    }
    if (n == 0) {
        *consumed = 1; /* the SDK refused the oldest point: drop it rather than block */
        return true;
    }
    plexus_err_t err = plexus_flush(px);
    if (err != PLEXUS_OK) {
        plexus_clear(px);
        Serial.printf("Send failed: %s\n", plexus_strerror(err));
        return false;
    }
    *consumed = n;
    return true;
}
#else
/* Post the fleetnode JSON body through the SDK's Arduino HTTP transport. */
static bool send_batch(size_t *consumed) {
    int len = fleetnode_build_payload(payload, sizeof payload, source_id, &tags, &queue,
                                      BATCH_MAX_POINTS, consumed);
    if (len < 0) {
        /* Cannot happen with a valid config; never let it block the queue. */
        Serial.printf("Payload error %d: dropping the oldest point\n", len);
        *consumed = 1;
        return true;
    }
#ifdef PLEXUS_ROOT_CA
    plexus_err_t err = post_verified(payload, (size_t)len);
#else
    plexus_err_t err = plexus_hal_http_post(PLEXUS_ENDPOINT, PLEXUS_API_KEY,
                                            FLEETNODE_USER_AGENT, payload, (size_t)len);
#endif
    if (err != PLEXUS_OK) {
        Serial.printf("Send failed: %s%s\n", plexus_strerror(err),
                      err == PLEXUS_ERR_AUTH ? " (check PLEXUS_API_KEY)" : "");
        return false;
    }
    return true;
}
#endif

static void maybe_flush(uint32_t now) {
    if (!fleetnode_batcher_due(&batcher, queue.count, now)) {
        return;
    }
    if (!wifi_up || !clock_ok) {
        return; /* keep the points; the queue drops the oldest if this lasts */
    }
    size_t consumed = 0;
    bool ok = send_batch(&consumed);
    if (ok) {
        fleetnode_queue_pop(&queue, consumed);
        batches_sent++;
    } else {
        batches_failed++;
    }
    fleetnode_batcher_done(&batcher, ok, millis());
    if (!ok) {
        Serial.printf("Retrying in %lu s; %u points queued, %lu dropped so far\n",
                      (unsigned long)(batcher.backoff_ms / 1000u), (unsigned)queue.count,
                      (unsigned long)queue.dropped);
    }
}

/* ---- Arduino entry points ------------------------------------------------ */

void setup() {
    Serial.begin(115200);
    delay(200);
    Serial.printf("\n--- fleetscan node %s ---\n", FLEETNODE_VERSION);

    fleetnode_queue_init(&queue, queue_storage, QUEUE_CAPACITY);

    uint8_t mac[6];
    fleetnode_mac_from_efuse(ESP.getEfuseMac(), mac);
    fleetnode_err_t err = fleetnode_resolve_source_id(SOURCE_ID_OVERRIDE, mac, SOURCE_ID_PREFIX,
                                                      source_id, sizeof source_id);
    if (err == FLEETNODE_ERR_INVALID) {
        Serial.printf("WARNING: SOURCE_ID_OVERRIDE \"%s\" is not a valid source id "
                      "(^[a-z0-9][a-z0-9._-]*$, <= 63 chars); using \"%s\"\n",
                      SOURCE_ID_OVERRIDE, source_id);
    } else if (err != FLEETNODE_OK) {
        halt_config_error("SOURCE_ID_PREFIX must match ^[a-z0-9][a-z0-9._-]*$ and be short");
    }
    Serial.printf("source_id: %s\n", source_id);

    fleetnode_tags_init(&tags);
    if (fleetnode_tags_add(&tags, "room", TAG_ROOM) != FLEETNODE_OK ||
        fleetnode_tags_add(&tags, "site", TAG_SITE) != FLEETNODE_OK) {
        halt_config_error("TAG_ROOM / TAG_SITE must be printable ASCII, at most 31 chars");
    }

    /* The SDK checks the key ("plx_" prefix) and the source id the same way
     * the gateway will; fail loudly here instead of sending into a 401/400. */
    px = plexus_init(PLEXUS_API_KEY, source_id);
    if (px == NULL) {
        halt_config_error("plexus_init failed: PLEXUS_API_KEY must start with \"plx_\"");
    }
    if (plexus_set_endpoint(px, PLEXUS_ENDPOINT) != PLEXUS_OK) {
        halt_config_error("PLEXUS_ENDPOINT is too long");
    }
#if FLEETNODE_USE_SDK_QUEUE
    /* fleetnode decides when to flush: keep the SDK's count trigger out of reach. */
    if (plexus_set_flush_count(px, (uint16_t)PLEXUS_MAX_METRICS) != PLEXUS_OK) {
        halt_config_error("plexus_set_flush_count failed");
    }
#else
    /* Only the SDK's HTTP transport is used from here on. */
    plexus_free(px);
    px = NULL;
#endif
    Serial.printf("Plexus C SDK %s, endpoint %s\n", plexus_version(), PLEXUS_ENDPOINT);

    Wire.begin(I2C_SDA_PIN, I2C_SCL_PIN);
    sensor_present = sensor_begin();
    if (!sensor_present) {
        Serial.println("WARNING: no BME280 at 0x76/0x77. Reporting sensor.ok=0 and "
                       "retrying; NOT sending simulated values.");
    }

    WiFi.mode(WIFI_STA);
    WiFi.setAutoReconnect(true);
    /* UTC; SNTP keeps syncing in the background once the network is up. */
    configTime(0, 0, NTP_SERVER_1, NTP_SERVER_2);

    /* Give Wi-Fi and NTP a head start so the first batch carries real time. */
    const uint32_t start = millis();
    while (millis() - start < SETUP_WAIT_MS) {
        maintain_wifi(millis());
        if (wifi_up && fleetnode_epoch_ms_sane(epoch_ms_now())) {
            break;
        }
        delay(250);
    }
    maintain_clock(millis());

    const uint32_t now = millis();
    fleetnode_batcher_init(&batcher, FLUSH_INTERVAL_MS, FLUSH_COUNT, FLUSH_BACKOFF_MAX_MS, now);
    last_read_ms = now - READ_INTERVAL_MS; /* read right away */
    last_diag_ms = now;
}

void loop() {
    const uint32_t now = millis();
    maintain_wifi(now);
    maintain_clock(now);

    if (now - last_read_ms >= READ_INTERVAL_MS) {
        last_read_ms = now;
        read_sensor(now);
    }
    if (now - last_diag_ms >= DIAG_INTERVAL_MS) {
        last_diag_ms = now;
        (void)fleetnode_record_diagnostics(&queue, &counters, now / 1000u,
                                           wifi_up ? (int)WiFi.RSSI() : 0, epoch_ms_now());
        Serial.printf("health: sent %lu batches, %lu failed, %lu readings skipped, "
                      "%lu points dropped, %lu cycles without clock\n",
                      (unsigned long)batches_sent, (unsigned long)batches_failed,
                      (unsigned long)fleetnode_counters_skipped(&counters),
                      (unsigned long)queue.dropped, (unsigned long)counters.clock_unsynced);
    }
    maybe_flush(now);
    delay(20);
}
