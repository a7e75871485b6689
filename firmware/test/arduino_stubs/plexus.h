/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
/* transcribed from plexus-oss/c-sdk src/plexus.h (public API used by the sketch) */
#pragma once
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#define PLEXUS_SDK_VERSION "0.1.0"
#define PLEXUS_MAX_METRICS 32
#define PLEXUS_WARN_UNUSED_RESULT __attribute__((warn_unused_result))
extern "C" {
typedef enum { PLEXUS_OK = 0, PLEXUS_ERR_NULL_PTR, PLEXUS_ERR_BUFFER_FULL, PLEXUS_ERR_STRING_TOO_LONG, PLEXUS_ERR_NO_DATA, PLEXUS_ERR_NETWORK, PLEXUS_ERR_AUTH, PLEXUS_ERR_SERVER } plexus_err_t;
typedef struct plexus_client plexus_client_t;
plexus_client_t* plexus_init(const char* api_key, const char* source_id);
void plexus_free(plexus_client_t* client);
PLEXUS_WARN_UNUSED_RESULT plexus_err_t plexus_set_endpoint(plexus_client_t* client, const char* endpoint);
PLEXUS_WARN_UNUSED_RESULT plexus_err_t plexus_set_flush_count(plexus_client_t* client, uint16_t count);
PLEXUS_WARN_UNUSED_RESULT plexus_err_t plexus_send_number_ts(plexus_client_t* client, const char* metric, double value, uint64_t timestamp_ms);
PLEXUS_WARN_UNUSED_RESULT plexus_err_t plexus_send_number_tagged(plexus_client_t* client, const char* metric, double value, const char** tag_keys, const char** tag_values, uint8_t tag_count);
PLEXUS_WARN_UNUSED_RESULT plexus_err_t plexus_flush(plexus_client_t* client);
void plexus_clear(plexus_client_t* client);
const char* plexus_strerror(plexus_err_t err);
const char* plexus_version(void);
plexus_err_t plexus_hal_http_post(const char* url, const char* api_key, const char* user_agent, const char* body, size_t body_len);
}
