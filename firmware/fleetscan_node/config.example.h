/*
 * fleetscan_node settings. Copy this file to config.h in the same folder
 * (firmware/fleetscan_node/config.h) and edit it. config.h is git-ignored:
 * it holds your Wi-Fi password and Plexus API key, so never commit it.
 *
 * Every board of a fleet can share one config.h: each board derives its own
 * source id from its chip MAC ("esp32-bme280-a1b2c3"). Only ROOM/SITE (and,
 * if you want fixed names, SOURCE_ID_OVERRIDE) differ per board.
 */
#ifndef FLEETSCAN_NODE_CONFIG_H
#define FLEETSCAN_NODE_CONFIG_H

/* ---- Wi-Fi ------------------------------------------------------------- */
#define WIFI_SSID "your-ssid"
#define WIFI_PASSWORD "your-wifi-password"

/* ---- Plexus ------------------------------------------------------------ */
/* A key with write scope; plexus_init() rejects keys not starting with "plx_". */
#define PLEXUS_API_KEY "plx_your_api_key_here"
/* Gateway ingest URL. HTTPS, but the SDK's Arduino transport (v0.1.1) does NOT check the
 * gateway's certificate (setInsecure): to verify it, define PLEXUS_ROOT_CA below. */
#define PLEXUS_ENDPOINT "https://plexus-gateway.fly.dev/ingest"
/* The PEM root certificate the gateway's chain ends in (check with
 *   openssl s_client -connect plexus-gateway.fly.dev:443 -showcerts
 * and take the last certificate's issuer from your OS trust store). When defined, batches
 * are posted by the firmware's own verified TLS transport instead of the SDK's. */
/* #define PLEXUS_ROOT_CA "-----BEGIN CERTIFICATE-----\n" ... "-----END CERTIFICATE-----\n" */

/* ---- Identity ---------------------------------------------------------- */
/* "" = derive "<SOURCE_ID_PREFIX>-<last 3 MAC bytes, lowercase hex>".
 * An override must match ^[a-z0-9][a-z0-9._-]*$ and have at most 63 chars;
 * an invalid one is reported on the serial console and the MAC id is used. */
#define SOURCE_ID_OVERRIDE ""
#define SOURCE_ID_PREFIX "esp32-bme280"

/* ---- Tags added to every point ("" = tag not sent) ---------------------- */
/* `fleetscan fleet --group-by room` groups boards by the "room" tag. */
#define TAG_ROOM "lab"
#define TAG_SITE ""

/* ---- Time (UTC; the timestamps sent are epoch milliseconds) ------------- */
#define NTP_SERVER_1 "pool.ntp.org"
#define NTP_SERVER_2 "time.google.com"

/* ---- Hardware ---------------------------------------------------------- */
/* I2C pins; -1 = the board's default (GPIO 21/22 on an ESP32 DevKit). */
#define I2C_SDA_PIN -1
#define I2C_SCL_PIN -1

/* ---- Cadence and buffering (defaults shown; all optional) --------------- */
/* #define READ_INTERVAL_MS 2000      read the BME280 every 2 s              */
/* #define FLUSH_INTERVAL_MS 5000     send a batch at least every 5 s        */
/* #define FLUSH_COUNT 32             ... or once 32 points are queued       */
/* #define BATCH_MAX_POINTS 60        points per HTTP request                */
/* #define QUEUE_CAPACITY 600         points kept while offline (~5 min),    */
/*                                    then the oldest are dropped (counted)  */
/* #define DIAG_INTERVAL_MS 60000     node.* health metrics every minute     */
/* #define FLEETNODE_USE_SDK_QUEUE 0  1 = send through plexus_send_number_*  */
/*                                    + plexus_flush instead of posting the  */
/*                                    fleetnode JSON via the SDK transport   */

#endif /* FLEETSCAN_NODE_CONFIG_H */
